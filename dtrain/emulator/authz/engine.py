"""The IAM decision engine: @cloud-copilot/iam-simulate in one long-lived Node worker.

One process serves every decision of an emulator (a process per call would cost ~0.3 s each);
requests go one at a time over JSON lines (worker.js beside this file). The engine knows
nothing about moto: it takes the request and the policies and answers Allowed,
ExplicitlyDenied or ImplicitlyDenied with the statements that decided.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtrain.emulator.authz.context_keys import policy_with_stand_ins, stand_in

WORKER = Path(__file__).with_name("worker.js")


def node_modules() -> Path:
    """Where @cloud-copilot/iam-simulate is installed (a Node package: pip cannot carry it).

    DTRAIN_NODE_MODULES when set; else the first node_modules holding it in the working directory
    or above it, in the interpreter's prefix (`npm install --prefix "$VIRTUAL_ENV" ...` beside an
    installed dtrain), or beside the dtrain/ folder (a checkout: package.json, `npm ci`)."""
    named = os.environ.get("DTRAIN_NODE_MODULES")
    if named:
        return Path(named)
    here = Path.cwd().resolve()
    beside_package = Path(__file__).resolve().parents[3]
    candidates = (*(f / "node_modules" for f in (here, *here.parents)), Path(sys.prefix) / "node_modules")
    for folder in (*candidates, beside_package / "node_modules"):
        if (folder / SIMULATOR).is_dir():
            return folder
    return beside_package / "node_modules"


SIMULATOR = "@cloud-copilot/iam-simulate"


class EngineError(Exception):
    """The engine could not decide (invalid policy or request, or the worker died)."""


@dataclass(frozen=True)
class Request:
    principal: str  # a role session ARN, an IAM ARN, or a service principal (events.amazonaws.com)
    action: str  # service:Action
    resource: str  # the resource ARN ("*" for actions without a resource type)
    account: str  # the resource's account
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    # True for an action AWS authorizes on a resource its reference calls wildcard-only
    # (calls.RESOURCE_BEYOND_REFERENCE): decided without the engine's resource-type validation.
    unvalidated: bool = False

    def context_dict(self) -> dict[str, str | list[str]]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.context}


@dataclass(frozen=True)
class Decision:
    result: str  # Allowed | ExplicitlyDenied | ImplicitlyDenied
    reasons: tuple[dict[str, Any], ...] = ()

    @property
    def allowed(self) -> bool:
        return self.result == "Allowed"

    @property
    def explicit(self) -> bool:
        return self.result == "ExplicitlyDenied"


@dataclass
class PolicyEngine:
    """`decide(request, identity_policies, resource_policy)`; close() ends the worker."""

    node: str = field(default_factory=lambda: shutil.which("node") or "node")
    _proc: subprocess.Popen[str] | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _worker(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            modules = node_modules()
            if not (modules / SIMULATOR).is_dir():
                raise EngineError(
                    f"{SIMULATOR} is not installed under {modules}: run `npm ci` in a checkout, or "
                    f"`npm install {SIMULATOR}` and set DTRAIN_NODE_MODULES to its node_modules"
                )
            self._proc = subprocess.Popen(
                [self.node, str(WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
                env={"NODE_PATH": str(modules), "PATH": "/usr/bin:/bin:/usr/local/bin"},
                cwd=str(modules.parent),
            )
        return self._proc

    def decide(
        self,
        request: Request,
        identity_policies: list[tuple[str, Any]],
        resource_policy: Any | None = None,
    ) -> Decision:
        simulation: dict[str, Any] = {
            "request": {
                "principal": request.principal,
                "action": request.action,
                "resource": {"resource": request.resource, "accountId": request.account},
                "contextVariables": {stand_in(k): v for k, v in request.context_dict().items()},
            },
            "identityPolicies": [
                {"name": n, "policy": policy_with_stand_ins(p)} for n, p in identity_policies
            ],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        if resource_policy is not None:
            simulation["resourcePolicy"] = policy_with_stand_ins(resource_policy)
        with self._lock:
            proc = self._worker()
            ident = next(self._ids)
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(
                    json.dumps({"id": ident, "simulation": simulation, "unsafe": request.unvalidated}) + "\n"
                )
                proc.stdin.flush()
                line = proc.stdout.readline()
            except (BrokenPipeError, OSError) as exc:
                raise EngineError(f"the IAM engine worker died: {exc}") from None
        if not line:
            raise EngineError("the IAM engine worker exited without an answer")
        reply = json.loads(line)
        if reply.get("id") != ident:
            raise EngineError(f"the IAM engine answered request {reply.get('id')}, not {ident}")
        if "error" in reply:
            details = json.dumps(reply.get("details") or {}, default=str)[:600]
            raise EngineError(f"{request.action} on {request.resource}: {reply['error']} {details}")
        return Decision(reply["decision"], tuple(reply.get("reasons") or ()))

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
