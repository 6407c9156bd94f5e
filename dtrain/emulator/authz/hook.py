"""Where calls are authorized: every boto3 call made in this process, before it is sent.

The emulator's principals all run in this process (the in-process Lambdas, moto's Step
Functions interpreter, the SageMaker backend), so the one place that sees every call they
make, with its operation name and parameters, is botocore's client (BaseClient._make_api_call).
Who is calling is the principal the thread acts as (`acting_as`), inherited by the threads it
starts (s3transfer, the local job runner); moto's Step Functions interpreter signs its service
integrations with the access key "ak", which stands for the role of the state machine whose
execution the thread runs (recorded by the interpreter's worker thread, so several platforms'
state machines in one emulator each act with their own role). A thread
acting as nobody is the emulator's own caller (the CLI, the tests): full access.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dtrain.emulator.authz.authorizer import AccessDenied, Authorizer, Principal
from dtrain.emulator.authz.calls import SERVICE_CHECKED, Check, job_file_system_checks, job_key_checks

SFN_ACCESS_KEY = "ak"  # moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for

_local = threading.local()
_installed: list[Authorizer] = []


def current() -> Authorizer | None:
    return _installed[-1] if _installed else None


def acting_principal() -> Principal | None:
    principal: Principal | None = getattr(_local, "principal", None)
    return principal


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    saved = acting_principal()
    _local.principal = principal
    try:
        yield
    finally:
        _local.principal = saved


@contextmanager
def function_role(role_arn: str, function_name: str) -> Iterator[None]:
    """A Lambda handler runs with its role's credentials (Lambda assumes the role first)."""
    active = current()
    if active is None:
        yield
        return
    active.assume("lambda.amazonaws.com", role_arn)
    with acting_as(Principal(role_arn, session=function_name)):
        yield


def execution_role(role_arn: str, job_name: str) -> Any:
    """What a training job does, SageMaker does with the job's execution role."""
    return acting_as(Principal(role_arn, session=f"SageMaker-{job_name}"[:64]) if current() else None)


def service_may_invoke(service: str, function_arn: str, source_arn: str) -> bool:
    """A service principal invoking a function (its resource policy decides); refusals recorded."""

    active = current()
    if active is None:
        return True
    check = Check("lambda:InvokeFunction", function_arn, "function", function_arn)
    try:
        active.service_acts(service, check, source_arn=source_arn)
    except AccessDenied:
        return False
    return True


def service_cannot_assume(service: str, role_arn: str, source_arn: str = "") -> str | None:
    """None when the role's trust policy admits the service; else the refusal's message."""
    active = current()
    if active is None or not role_arn:
        return None
    try:
        active.assume(service, role_arn, source_arn)
    except AccessDenied as denied:
        return denied.message
    return None


def job_keys_refused(request: Any, job_name: str, region: str) -> str | None:
    """None when the execution role may use the job's volume and output keys; else why not."""

    active = current()
    role = str(request.get("RoleArn", ""))
    if active is None or not role:
        return None
    principal = Principal(role, session=f"SageMaker-{job_name}"[:64])
    try:
        for check in job_key_checks(active.state, request, region, active.state.account):
            active.check(principal, check, "sagemaker")
    except AccessDenied as denied:
        return denied.message
    return None


# Who an anonymous NFS client is to the engine: a principal of the account with no identity
# policies, so only a file-system policy statement that admits any principal ("*") lets it in.
ANONYMOUS_CLIENT = "user/anonymous-nfs-client"


def job_file_systems_refused(request: Any, region: str) -> str | None:
    """None when the job's EFS channels may be mounted as SageMaker mounts them; else why not."""

    active = current()
    if active is None:
        return None
    account = active.state.account
    principal = Principal(f"arn:aws:iam::{account}:{ANONYMOUS_CLIENT}", session="nfs")
    try:
        for check in job_file_system_checks(request, region, account):
            active.check(principal, check, "efs")
    except AccessDenied as denied:
        return denied.message
    return None


def _state_machine_principal(authorizer: Authorizer) -> Principal:
    # The role of the execution this thread runs (set by the interpreter's worker, below): with
    # several platforms in one emulator there are several state machines, each with its role.
    running: str | None = getattr(_local, "state_machine_role", None)
    if running:
        return Principal(running, session="states")
    roles = authorizer.state.state_machine_roles()
    if len(roles) != 1:
        raise AccessDenied(
            "AccessDeniedException",
            f"emulator: {len(roles)} state machine roles; a service integration call cannot be attributed",
        )
    return Principal(next(iter(roles)), session="states")


def _caller(client: Any, authorizer: Authorizer) -> Principal | None:
    # The interpreter's clients first: its threads inherit whoever started the execution.
    credentials = getattr(client._request_signer, "_credentials", None)
    if credentials is not None and credentials.access_key == SFN_ACCESS_KEY:
        return _state_machine_principal(authorizer)
    return acting_principal()


@contextmanager
def installed(authorizer: Authorizer) -> Iterator[Authorizer]:
    from botocore.client import BaseClient

    # moto's interpreter runs each execution in a worker thread of its own (and its Map/Parallel
    # branches in threads that thread starts): the execution's role rides on them.
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original_call = BaseClient._make_api_call
    original_start = threading.Thread.start
    original_bootstrap = getattr(threading.Thread, "_bootstrap_inner")  # noqa: B009 - private
    original_logic: Any = ExecutionWorker._execution_logic

    BaseClient._make_api_call = _authorized(original_call)
    ExecutionWorker._execution_logic = _with_execution_role(original_logic)  # type: ignore[method-assign]
    threading.Thread.start = _start_carrying_caller(original_start)  # type: ignore[method-assign]
    setattr(threading.Thread, "_bootstrap_inner", _run_as_starter(original_bootstrap))  # noqa: B010 - private
    _installed.append(authorizer)
    try:
        yield authorizer
    finally:
        _installed.remove(authorizer)
        BaseClient._make_api_call = original_call
        ExecutionWorker._execution_logic = original_logic  # type: ignore[method-assign]
        threading.Thread.start = original_start  # type: ignore[method-assign]
        setattr(threading.Thread, "_bootstrap_inner", original_bootstrap)  # noqa: B010


def _authorized(original_call: Any) -> Any:
    """botocore's API call, asked of the active authorizer first: a denial is raised as the
    client's own error for its code, as AWS would answer it."""

    def make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        active = current()
        if active is not None:
            principal = _caller(self, active)
            service = self.meta.service_model.service_name
            # The emulator's own caller has full access; the service's own checks still apply.
            if principal is not None or (service, operation_name) in SERVICE_CHECKED:
                try:
                    active.authorize_call(
                        principal, service, operation_name, api_params, self.meta.region_name
                    )
                except AccessDenied as denied:
                    error = {
                        "Error": {"Code": denied.code, "Message": denied.message},
                        "ResponseMetadata": {"HTTPStatusCode": denied.status, "RequestId": uuid.uuid4().hex},
                    }
                    raise self.exceptions.from_code(denied.code)(error, operation_name) from None
        return original_call(self, operation_name, api_params)

    return make_api_call


def _start_carrying_caller(original_start: Any) -> Any:
    """Thread.start that hands the starting thread's principal and state machine role on."""

    def start(self: threading.Thread) -> None:
        self._dtrain_principal = acting_principal()  # type: ignore[attr-defined]
        self._dtrain_state_machine_role = getattr(_local, "state_machine_role", None)  # type: ignore[attr-defined]
        original_start(self)

    return start


def _run_as_starter(original_bootstrap: Any) -> Any:
    """A started thread's body, run as the principal (and role) of the thread that started it."""

    def bootstrap_inner(self: threading.Thread) -> None:
        _local.principal = getattr(self, "_dtrain_principal", None)
        _local.state_machine_role = getattr(self, "_dtrain_state_machine_role", None)
        original_bootstrap(self)

    return bootstrap_inner


def _with_execution_role(original_logic: Any) -> Any:
    """An execution's worker, acting with the state machine's role while it runs."""

    def execution_logic(self: Any) -> None:
        _local.state_machine_role = self._evaluation_details.aws_execution_details.role_arn
        try:
            original_logic(self)
        finally:
            _local.state_machine_role = None

    return execution_logic
