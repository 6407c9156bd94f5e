"""The embedded platform: moto in-process + shims + the deployed templates.

    with Emulator(assembly_dir) as emu:            # deploys every stack of the assembly
        arn = emu.start_execution(spec)
        emu.sagemaker.complete(emu.sagemaker.wait_for_jobs(1)[0], metrics={...})
        emu.wait_execution(arn)                     # -> DescribeExecution

One emulator serves the orchestration e2e tests, the demo and the CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from dtrain.emulator.authz import hook
from dtrain.emulator.authz.authorizer import Authorizer
from dtrain.emulator.authz.moto_state import MotoState, moto_bucket_policy_check_off
from dtrain.emulator.authz.service_checks import check_service_principals
from dtrain.emulator.deploy import Deployment, deploy_assembly, enforcement_line
from dtrain.emulator.hosting import HostingBackend
from dtrain.emulator.lambda_logs import LambdaLogDelivery, logging_config_recorded
from dtrain.emulator.sagemaker import EventPlaybackBackend, SageMakerBackend
from dtrain.emulator.schedules import Schedules
from dtrain.emulator.service_behaviour import ServiceBehaviour
from dtrain.emulator.service_behaviour import installed as behaviour_installed
from dtrain.emulator.shims import Fault, LambdaRuntime, Shims, installed, new_workdir
from dtrain.orchestration.environment_clients import new_session

ACCOUNT = "123456789012"
ENFORCE_ENV = "DTRAIN_EMULATOR_ENFORCE"
ORCHESTRATION_STACK = "DtrainOrchestration"  # the default app's (stack_prefix Dtrain)
PLATFORM_OUTPUT = "PlatformSettings"  # what marks an orchestration stack, whatever its name
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "emulator",
    "AWS_SECRET_ACCESS_KEY": "emulator",
    "AWS_SESSION_TOKEN": "emulator",
}


class Emulator:
    def __init__(
        self,
        assembly: Path,
        *,
        sagemaker: SageMakerBackend | None = None,
        region: str = "us-east-1",
        orchestration_stack: str | None = None,
        announce: bool = True,
        server_port: int | None = None,
        enforce: bool | None = None,
        lambda_log_file: Path | None = None,
        schedule_scale: float | None = None,
    ) -> None:
        self.assembly = Path(assembly)
        self.region = region
        self.account = ACCOUNT
        self.sagemaker: Any = sagemaker or EventPlaybackBackend()
        # The platform `output()`, `start_execution()` and `ledger()` address; None: the one
        # orchestration stack deployed, whatever it is called (`platforms()` lists them all).
        self._orchestration_stack = orchestration_stack
        self.announce = announce
        # The functions' log lines go to their log groups (and to `lambda_log_file` when given).
        self.runtime = LambdaRuntime(workdir=new_workdir(), logs=LambdaLogDelivery(lambda_log_file))
        self.shims = Shims(runtime=self.runtime, sagemaker_backend=self.sagemaker)
        # Payload limit, SageMaker faults, lost execution events, a movable clock.
        self.behaviour = ServiceBehaviour()
        # Endpoints and transform jobs (dtrain.emulator.hosting), whatever runs the training jobs.

        self.hosting = HostingBackend(workdir=new_workdir())
        # SageMaker's lifecycles (dtrain.emulator.lifecycle): states and their durations, AWS's
        # refusals, quotas; shared by the job backend and hosting.
        self.lifecycle = self.shims.lifecycle
        self.hosting.durations = self.lifecycle.durations
        self.deployment: Deployment | None = None
        self.deploy_seconds = 0.0
        # EventBridge's schedule rules (the platform's Reconcile every 5 minutes), each run at its
        # rate times `schedule_scale`: 1.0 is AWS's rate, None holds them (dtrain.emulator.schedules;
        # tests that call `reconcile()` themselves read the report of the one run). Settable later
        # as `schedules.scale`.
        self.schedules = Schedules(self.shims, self.account, self.region, scale=schedule_scale)
        # Server mode: the same emulator behind moto's HTTP server on this port, so other
        # processes (the dtrain CLI, the AWS CLI) reach it with AWS_ENDPOINT_URL.
        self.server_port = server_port
        # Enforcement: every call a platform principal makes is authorized (dtrain.emulator.authz).
        # On unless turned off here or with DTRAIN_EMULATOR_ENFORCE=0 (make demo, the tests).
        self.enforce = enforce if enforce is not None else os.environ.get(ENFORCE_ENV, "1") != "0"
        self.authz: Any = None
        self.service_refusals: list[str] = []
        self._stack = ExitStack()
        # The Lambda runtime's scratch directory goes with the emulator (no temp dir left).
        self._stack.callback(shutil.rmtree, self.runtime.workdir, ignore_errors=True)
        self._stack.callback(shutil.rmtree, self.hosting.workdir, ignore_errors=True)
        self._saved_env: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Emulator:
        from moto import mock_aws

        env = {**_FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region}
        if self.server_port is not None:
            env.update(AWS_ENDPOINT_URL=self.endpoint_url, MOTO_PORT=str(self.server_port))
        self._saved_env = {
            k: os.environ.get(k)
            for k in [*env, "AWS_REGION", "DTRAIN_PLATFORM", "LEDGER_TABLE", "AWS_ENDPOINT_URL", "MOTO_PORT"]
        }
        os.environ.update(env)
        try:
            if self.server_port is None:
                self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
            else:
                self._start_server()
            self._stack.enter_context(installed(self.shims))
            self._stack.enter_context(logging_config_recorded())
            from dtrain.emulator import hosting

            self._stack.enter_context(hosting.installed(self.hosting))
            self._stack.enter_context(behaviour_installed(self.behaviour))
            self._stack.enter_context(moto_bucket_policy_check_off())
            start = time.perf_counter()
            # On the process's one botocore data loader (dtrain.orchestration.environment_clients):
            # a new session parses every service model again, ~0.1 s of CPU each, per emulator.
            self.session = new_session(self.region)
            self.deployment = deploy_assembly(
                self.session, self.assembly, account=self.account, region=self.region
            )
            self.deploy_seconds = time.perf_counter() - start
            if self.enforce:
                self._enforce()
            self.schedules.start()
            self._stack.callback(self.schedules.stop)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        if self.announce:
            gaps = self.deployment.not_modelled() + self.deployment.skipped_assets
            print(f"emulator: {enforcement_line(self.enforce)}; not modelled: {', '.join(gaps) or 'nothing'}")
        return self

    def _enforce(self) -> None:
        self.authz = Authorizer(MotoState(self.account, self.region))
        self._stack.callback(self.authz.close)
        self._stack.enter_context(hook.installed(self.authz))
        self.service_refusals = check_service_principals(self.authz)
        for refusal in self.service_refusals:
            print(f"emulator: refused: {refusal}")

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def _start_server(self) -> None:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        # The server shares this process's backends, so the shims apply to it unchanged.
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(self.server_port or 0), verbose=False)
        server.start()
        self._stack.callback(server.stop)

        deadline = time.monotonic() + 20
        while True:  # start() returns before the socket listens
            try:
                socket.create_connection(("127.0.0.1", int(self.server_port or 0)), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        with self._clients_lock:
            self._clients.clear()
        try:
            self._stack.close()
        finally:
            for k, v in self._saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    # -- access ------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """This emulator's client for `service`, made on the first call and kept: making a botocore
        client costs milliseconds of CPU (its event hooks, endpoint rules, an SSL context), and
        wait_execution asks for one every poll. boto3's guide: a client is thread-safe once made
        and may be shared between threads; a Session is not, so making one from `self.session`
        is done under a lock (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/
        clients.html#multithreading-or-multiprocessing-with-clients and session.html, the same
        section for sessions). Sharing a client changes no identity: who calls is the thread's
        principal (dtrain.emulator.authz.hook), not the client's credentials."""
        with self._clients_lock:
            made = self._clients.get(service)
            if made is None:
                made = self._clients[service] = self.session.client(service, region_name=self.region)
            return made

    def deploy(self, assembly: Path) -> Deployment:
        """Deploy another cloud assembly (a second platform, say) into this running emulator;
        its stacks join `deployment`. Policies are read live, so enforcement covers them too."""
        assert self.deployment is not None, "deploy() needs an entered emulator"
        more = deploy_assembly(self.session, Path(assembly), account=self.account, region=self.region)
        self.deployment.stacks.update(more.stacks)
        self.deployment.skipped_assets.extend(more.skipped_assets)
        return more

    def platforms(self) -> list[str]:
        """The orchestration stacks deployed (those with a PlatformSettings output), by name."""
        assert self.deployment is not None
        return sorted(name for name, s in self.deployment.stacks.items() if PLATFORM_OUTPUT in s.outputs)

    @property
    def orchestration_stack(self) -> str:
        """The orchestration stack `output()` reads: the one named, else the one deployed."""
        return self._platform_stack()

    def _platform_stack(self) -> str:
        if self._orchestration_stack:
            return self._orchestration_stack
        platforms = self.platforms()
        if len(platforms) != 1:
            raise LookupError(
                f"{len(platforms)} platforms deployed ({', '.join(platforms) or 'none'}): "
                "name one with Emulator(orchestration_stack=...) or output_of()"
            )
        return platforms[0]

    def output(self, key: str) -> str:
        return self.output_of(self._platform_stack(), key)

    def output_of(self, stack: str, key: str) -> str:
        assert self.deployment is not None
        return self.deployment.output(stack, key)

    @property
    def state_machine_arn(self) -> str:
        return self.output("StateMachineArn")

    def inject_fault(self, fault: Fault) -> None:
        self.runtime.faults.append(fault)

    def drain_events(self) -> None:
        self.shims.drain()

    # -- executions --------------------------------------------------------------------------
    def start_execution(
        self, spec: dict[str, Any], name: str | None = None, platform: str | None = None
    ) -> str:
        """Start `spec` on the platform whose orchestration stack is `platform` (default: the one)."""
        machine = self.output_of(platform, "StateMachineArn") if platform else self.state_machine_arn
        out = self.client("stepfunctions").start_execution(
            stateMachineArn=machine,
            name=name or f"run-{uuid.uuid4().hex[:12]}",
            input=json.dumps(spec),
        )
        return str(out["executionArn"])

    def describe_execution(self, arn: str) -> dict[str, Any]:
        out: dict[str, Any] = self.client("stepfunctions").describe_execution(executionArn=arn)
        return out

    def wait_execution(self, arn: str, timeout: float = 60.0, poll_s: float = 0.05) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            desc = self.describe_execution(arn)
            # Ended, and its run finished (so its end event is on the bus): an aborted
            # execution reports ABORTED while a Lambda of it may still be returning.
            if desc["status"] != "RUNNING" and arn in self.behaviour.terminated:
                self.drain_events()
                return desc
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {arn} still RUNNING after {timeout} s{self._failures_note()}")
            time.sleep(poll_s)

    def _failures_note(self) -> str:
        """What a timed-out wait adds to its message: the Lambda invocations that failed and the
        event deliveries that raised so far (an event is not redelivered, so one failed job-events
        invocation leaves its execution waiting; its log group has the traceback)."""
        lines = self.runtime.failures() + self.shims.failed_deliveries()
        return "; failed Lambda invocations: " + " | ".join(lines) if lines else ""

    def history(self, arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": arn}
        while True:
            out = sfn.get_execution_history(**kwargs)
            events.extend(out["events"])
            if not out.get("nextToken"):
                return events
            kwargs["nextToken"] = out["nextToken"]

    def invoke(self, logical_prefix: str, event: dict[str, Any] | None = None) -> Any:
        """Invoke a deployed function (by the start of its name) through the Lambda API."""
        lam = self.client("lambda")
        names = [
            f["FunctionName"]
            for f in lam.list_functions()["Functions"]
            if logical_prefix in f["FunctionName"]
        ]
        if len(names) != 1:
            raise LookupError(f"{len(names)} functions match {logical_prefix!r}: {names}")
        out = lam.invoke(FunctionName=names[0], Payload=json.dumps(event or {}).encode())
        payload = json.loads(out["Payload"].read() or b"null")
        if out.get("FunctionError"):
            raise RuntimeError(f"{names[0]} failed: {payload}")
        return payload

    def ledger(self, platform: str | None = None) -> Any:
        from dtrain.orchestration.ledger import Ledger

        table = self.output_of(platform, "LedgerTableName") if platform else self.output("LedgerTableName")
        return Ledger(table, client=self.client("dynamodb"))

    def jobs_of(
        self, execution_arn: str, count: int = 1, timeout: float = 30.0, platform: str | None = None
    ) -> list[str]:
        """Job names the ledger holds for an execution, waiting until there are `count`."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.ledger(platform).find_by_execution(execution_arn)
            names = [r.job_name for r in rows if r.job_name in self.sagemaker.jobs]
            if len(names) >= count:
                return names
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(names)} of {count} jobs of {execution_arn} created{self._failures_note()}"
                )
            time.sleep(0.05)

    def reconcile(self) -> Any:
        return self.invoke("Reconcile", {"source": "aws.events", "detail-type": "Scheduled Event"})
