"""Who may do what in the emulator: principals, checks, the decision and AWS's refusal.

A principal is a role acting through a session (a Lambda's role, the state machine's role,
the SageMaker execution role), a service principal (events.amazonaws.com, ...), or an IAM
identity with its own policies (a submitter). For each check of a call (calls.py) the
authorizer gathers the identity policies and the resource policy (bucket, topic, function,
key or trust policy) and asks the engine. A refusal is raised as AWS words it:
"User: <principal> is not authorized to perform: <action> on resource: <arn> because ...".
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dtrain.emulator.authz.calls import Call, Check, Unmapped, checks_for
from dtrain.emulator.authz.engine import Decision, PolicyEngine, Request
from dtrain.emulator.authz.moto_state import MotoState, parsed_policy


@dataclass(frozen=True)
class Principal:
    arn: str  # a role ARN, an IAM user ARN, or a service principal name
    session: str = "emulator"
    policies: tuple[tuple[str, str], ...] = ()  # (name, JSON) for a principal that is not a role

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls(name)

    @property
    def is_service(self) -> bool:
        return not self.arn.startswith("arn:")

    @property
    def is_role(self) -> bool:
        return ":role/" in self.arn

    @property
    def account(self) -> str:
        return self.arn.split(":")[4] if not self.is_service else ""

    @property
    def request_arn(self) -> str:
        """The ARN a request is signed as: a role acts through an STS session."""
        if self.is_role:
            name = self.arn.rsplit("/", 1)[-1]
            return f"arn:aws:sts::{self.account}:assumed-role/{name}/{self.session}"
        return self.arn


class AccessDenied(Exception):
    """AWS's refusal: `code` as the service returns it, `message` naming who, what and which."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# The error code each service answers a refusal with (its API reference, "Errors").
_DENIED_CODE = {"s3": "AccessDenied", "sns": "AuthorizationError", "cloudwatch": "AccessDenied"}
_POLICY_WORDS = {"identity": "identity-based", "resource": "resource-based", "pb": "permissions boundary"}


def _because(decision: Decision, check: Check, principal: Principal) -> str:
    reasons = list(decision.reasons)
    if decision.explicit:
        kind = next((r["policyType"] for r in reasons if r.get("denialType") == "Explicit"), "identity")
        return f"with an explicit deny in a {_POLICY_WORDS.get(kind, kind)} policy"
    kinds = [r.get("policyType") for r in reasons]
    # A service principal has no identity policies; a key or trust policy must always allow.
    resource_side = principal.is_service or check.policy_kind in ("key", "role") or kinds == ["resource"]
    kind = "resource" if resource_side else "identity"
    return f"because no {_POLICY_WORDS[kind]} policy allows the {check.action} action"


def _wildcard(pattern: str) -> re.Pattern[str]:
    # IAM ARN matching: * any run of characters, ? one character, case-sensitive.
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


@dataclass(frozen=True)
class PolicyShape:
    """What a decision can depend on in a resource ARN and a principal, for one set of policies.

    The engine's answer depends on the resource only through which Resource/NotResource
    patterns match it (and its service, account and type): two ARNs that match the same
    patterns get the same answer, so the decision cache keys on that match vector, not on the
    ARN, and a new job's or execution's resources reuse the decisions of the last one. Where a
    pattern holds a policy variable (${...}) the ARN itself is the key; where a policy could
    name a role session (assumed-role ARNs, aws:userid/username) the session ARN is."""

    patterns: tuple[re.Pattern[str], ...]
    has_variables: bool
    session_sensitive: bool

    @classmethod
    def of(cls, documents: list[Any]) -> PolicyShape:
        text = json.dumps(documents, default=str)
        found: list[str] = []
        for doc in documents:
            statements = doc.get("Statement", []) if isinstance(doc, dict) else []
            for st in [statements] if isinstance(statements, dict) else statements:
                for element in ("Resource", "NotResource"):
                    value = st.get(element, [])
                    found += [value] if isinstance(value, str) else [str(v) for v in value]
        return cls(
            patterns=tuple(_wildcard(p) for p in dict.fromkeys(found)),
            has_variables="${" in text,
            session_sensitive=any(
                word in text for word in ("assumed-role", "aws:userid", "aws:username", "${")
            ),
        )

    def resource_key(self, resource: str) -> Any:
        if self.has_variables:
            return resource
        head = resource.split(":", 5)
        kind = re.split("[/:]", head[5], maxsplit=1)[0] if len(head) > 5 else ""
        matches = tuple(p.fullmatch(resource) is not None for p in self.patterns)
        return (*head[:5], kind, resource.count(":"), matches)


@dataclass
class Refusal:
    principal: str
    action: str
    resource: str
    message: str


@dataclass
class Authorizer:
    state: MotoState
    engine: PolicyEngine = field(default_factory=PolicyEngine)
    authorized: Counter[str] = field(default_factory=Counter)  # action -> checks allowed
    refusals: list[Refusal] = field(default_factory=list)
    unmapped: Unmapped = field(default_factory=Unmapped)
    engine_calls: int = 0  # decisions the engine made (cache misses)
    _cache: dict[tuple[Any, ...], Decision] = field(default_factory=dict)
    _shapes: dict[tuple[int, ...], PolicyShape] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- policies ----------------------------------------------------------------------------
    def identity_policies(self, principal: Principal) -> list[tuple[str, Any]]:
        if principal.policies:
            return [(name, parsed_policy(doc)) for name, doc in principal.policies]
        if principal.is_role:
            return self.state.identity_policies(principal.arn)
        return []

    def resource_policy(self, check: Check) -> Any | None:
        kind, ref = check.policy_kind, check.policy_ref
        if kind == "bucket":
            return self.state.bucket_policy(ref)
        if kind == "topic":
            return self.state.topic_policy(ref)
        if kind == "function":
            fn = self.state.function(ref)
            return self.state.function_policy(fn) if fn is not None else None
        if kind == "key":
            found = self.state.key(ref)
            return found[1] if found else None
        if kind == "role":
            return self.state.trust_policy(ref)
        if kind == "filesystem":
            return self.state.file_system_policy(ref)
        return None

    # -- decisions ---------------------------------------------------------------------------
    def decide(self, principal: Principal, check: Check) -> Decision:
        context = dict(check.context)
        if not principal.is_service:
            # Global keys AWS sets on every signed request (IAM "AWS global condition context
            # keys"); SDKs call over TLS, so aws:SecureTransport is true.
            context.setdefault("aws:PrincipalArn", principal.arn)
            context.setdefault("aws:PrincipalAccount", principal.account)
            context.setdefault("aws:PrincipalType", "AssumedRole" if principal.is_role else "User")
        context.setdefault("aws:SecureTransport", "true")
        resource_account = check.resource.split(":")[4] if check.resource.count(":") >= 5 else ""
        request = Request(
            principal=principal.request_arn,
            action=check.action,
            resource=check.resource,
            account=resource_account or principal.account or self.state.account,
            context=tuple(sorted(context.items())),
            unvalidated=check.unvalidated,
        )
        identity = self.identity_policies(principal)
        resource = self.resource_policy(check)
        # Parsed documents are shared per policy text (moto_state.parsed_policy): their
        # identities name the policies in force, so a changed policy is a new key.
        docs = (*(id(doc) for _, doc in identity), id(resource) if resource is not None else 0)
        shape = self._shape(docs, [doc for _, doc in identity] + ([resource] if resource is not None else []))
        key = (
            principal.request_arn if shape.session_sensitive else principal.arn,
            request.action.lower(),  # actions are case-insensitive
            shape.resource_key(request.resource),
            request.account,
            request.context,
            docs,
            request.unvalidated,
        )
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            self.engine_calls += 1
            cached = self.engine.decide(request, identity, resource)
            with self._lock:
                self._cache[key] = cached
        return cached

    def _shape(self, docs: tuple[int, ...], documents: list[Any]) -> PolicyShape:
        shape = self._shapes.get(docs)
        if shape is None:
            shape = self._shapes.setdefault(docs, PolicyShape.of(documents))
        return shape

    def check(self, principal: Principal, check: Check, service: str) -> None:
        decision = self.decide(principal, check)
        if decision.allowed:
            with self._lock:
                self.authorized[check.action] += 1
            return
        who = principal.request_arn
        message = (
            f"User: {who} is not authorized to perform: {check.action} "
            f"on resource: {check.resource} {_because(decision, check, principal)}"
        )
        if check.via:
            message += f" (a call {check.via} makes with the caller's permissions)"
        with self._lock:
            self.refusals.append(Refusal(who, check.action, check.resource, message))
        if check.via == "sns" and check.action.startswith("kms:"):
            raise AccessDenied("KMSAccessDenied", message, 400)
        raise AccessDenied(_DENIED_CODE.get(service, "AccessDeniedException"), message)

    def authorize_call(
        self, principal: Principal | None, service: str, operation: str, params: Any, region: str
    ) -> None:
        """Every check of the call: the caller's (skipped for None, the emulator's own caller
        with full access) and those the service makes as itself (a trust policy, a key policy)."""
        call = Call(service, operation, params, region, self.state.account)
        for check in checks_for(self.state, call, self.unmapped):
            if check.service_principal:
                self.service_acts(check.service_principal, check)
            elif principal is not None:
                self.check(principal, check, service)

    def assume(self, service_principal: str, role_arn: str, source_arn: str = "") -> None:
        """A service assumes a role: the role's trust policy must admit it (sts:AssumeRole).

        The service sets aws:SourceAccount (and aws:SourceArn, the resource it acts for) on the
        request, which confused-deputy conditions in trust policies test (IAM User Guide, "The
        confused deputy problem")."""
        check = Check("sts:AssumeRole", role_arn, "role", role_arn)
        self.service_acts(service_principal, check, source_arn=source_arn)

    def service_acts(self, service_principal: str, check: Check, source_arn: str = "") -> None:
        """A service principal acts on its own (EventBridge invoking a function, ...)."""
        context = dict(check.context)
        context.setdefault("aws:SourceAccount", self.state.account)
        if source_arn:
            context.setdefault("aws:SourceArn", source_arn)
        acting = Check(
            check.action,
            check.resource,
            check.policy_kind,
            check.policy_ref,
            tuple(context.items()),
            check.via,
        )
        self.check(Principal.service(service_principal), acting, check.action.split(":")[0])

    def calls_authorized(self) -> int:
        return sum(self.authorized.values())

    def close(self) -> None:
        self.engine.close()
