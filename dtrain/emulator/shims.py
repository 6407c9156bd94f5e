"""The small patches that make moto 5.2.5 run this platform in-process (one module, on purpose).

moto is pinned exactly (requirements-dev.txt): these shims reach into its internals, and
each one is a few lines that a moto upgrade must re-check. What they fill in:

1. Lambda: moto runs function code only in Docker. Here the handler from the function's own
   deployment zip runs in-process, with the function's own environment variables (one view of
   os.environ per function: dtrain.emulator.function_env).
2. Step Functions: a state machine created through CloudFormation lands in the backend that
   does not execute; it is created in the executing (parser) backend instead. The context
   object gains `Execution.RedriveCount` (0: the emulator does not redrive), and
   SendTaskFailure keeps its `cause` (moto drops it), StopExecution releases a task that
   waits on its callback, and a task token answered while another execution is starting finds
   its execution (moto's lookup raised on the one starting).
3. EventBridge: moto does not deliver to Lambda targets; matching events are delivered to
   the in-process runtime (asynchronously, as EventBridge does). Step Functions' own
   "Execution Status Change" events are put on the bus when an execution ends.
4. SageMaker: every call passes the lifecycle gate first (dtrain.emulator.lifecycle: AWS's
   refusals by state, quotas, service rules), StopTrainingJob exists, and job status is driven
   by a pluggable backend (dtrain.emulator.sagemaker) instead of moto's "Completed at once".
5. KMS: keys created through CloudFormation keep their tags (moto expects the API's shape).
6. DynamoDB: a conditional write (and a transaction) is atomic, as in the service
   (dtrain.emulator.dynamodb_writes: moto checks the condition and writes without a lock).
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dtrain.emulator import dynamodb_writes, event_bus, function_env
from dtrain.emulator.authz import hook as authz_hook
from dtrain.emulator.class_patches import Patch, class_patches
from dtrain.emulator.function_env import function_environment
from dtrain.emulator.job_creates import patch_job_create
from dtrain.emulator.lambda_logs import LambdaLogDelivery
from dtrain.emulator.lifecycle import Lifecycle, gate

log = logging.getLogger(__name__)

# Environment variables the emulator never takes from a function's configuration.
_PROCESS_ENV = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


class EmulatorError(Exception):
    pass


# -- 1. Lambda -----------------------------------------------------------------------------
@dataclass
class Fault:
    """Make the next `times` invocations of a function fail with `error_type`.

    after=True runs the handler first (its side effects happen) and then fails the
    invocation, as a Lambda that times out after it did its work.
    """

    function_contains: str
    error_type: str
    message: str = "injected by the emulator"
    times: int = 1
    after: bool = True
    when: Callable[[Any], bool] | None = None  # only events this accepts trigger the fault


@dataclass
class Invocation:
    function_name: str
    event: Any
    result: Any = None
    error: str | None = None
    error_message: str = ""
    seconds: float = 0.0


@dataclass
class LambdaRuntime:
    """Runs functions' handlers in-process from their deployment zips."""

    workdir: Path
    faults: list[Fault] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    # Idle execution environments (a handler module loaded once each) by function code. Lambda
    # gives an environment one invocation at a time and starts another for a concurrent one, so
    # a handler's module state (Powertools' metric set, caches) is never shared between two
    # invocations in flight; here concurrent invocations of one function each take their own.
    _idle: dict[str, list[ModuleType]] = field(default_factory=dict)
    _environments_loaded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Lambda's log delivery: what a handler writes goes to its log group, not the host's screen.
    logs: LambdaLogDelivery = field(default_factory=LambdaLogDelivery)

    @contextmanager
    def _environment_for(self, fn: Any) -> Iterator[Callable[[Any, Any], Any]]:
        """The handler of an idle environment of `fn`'s code (a new one when all are busy), which
        the block has to itself; idle again (warm) when the block ends."""
        key = f"{fn.function_arn}:{fn.code_sha_256}"
        with self._lock:
            idle = self._idle.setdefault(key, [])
            module = idle.pop() if idle else self._load(fn)
        try:
            yield getattr(module, module.__dict__["__dtrain_handler_attr__"])
        finally:
            with self._lock:
                self._idle[key].append(module)

    def _load(self, fn: Any) -> ModuleType:
        """A new execution environment: the handler's module, loaded under a name of its own."""
        target = self.workdir / f"{fn.function_name}-{fn.code_sha_256[:12].replace('/', '_')}"
        module_file, _, attr = str(fn.handler).rpartition(".")
        member = f"{module_file.replace('.', '/')}.py"
        path = target / member
        if not path.exists():
            # Only the handler's module leaves the zip: it runs with this process's packages
            # (the zip's folder is not put on sys.path), so the vendored boto3, botocore,
            # Powertools and dtrain beside it (~900 files a function) would be written and
            # removed again unread, seconds of the emulator's start and tear-down.
            with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as zf:
                if member not in zf.namelist():
                    raise EmulatorError(
                        f"{fn.function_name}: its handler {fn.handler} needs {member}, "
                        "which its deployment package does not hold"
                    )
                path = Path(zf.extract(member, target))
        # A unique module name per environment: every function has its own handler.py.
        name = f"_dtrain_lambda_{self._environments_loaded}_{module_file.replace('.', '_')}"
        self._environments_loaded += 1
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise EmulatorError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        module.__dict__["__dtrain_handler_attr__"] = attr
        return module

    @staticmethod
    def _environment(fn: Any) -> dict[str, str]:
        # The function's own variables (dtrain.emulator.function_env keeps them per function), the
        # region Lambda sets; the credentials stay the process's (the emulator's fake ones).
        env = {**(fn.environment_vars or {}), "AWS_REGION": fn.region, "AWS_DEFAULT_REGION": fn.region}
        return {name: str(value) for name, value in env.items() if name not in _PROCESS_ENV}

    def _fault_for(self, fn_name: str, event: Any) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.when is not None and not fault.when(event):
                    continue
                if fault.times > 0 and fault.function_contains in fn_name:
                    fault.times -= 1
                    return fault
        return None

    def failures(self) -> list[str]:
        """One line per invocation that failed so far ("function: ErrorType: message"; the
        traceback is in the function's log group). An event a target failed on is not retried
        here, so a wait that times out names them (dtrain.emulator.core)."""
        with self._lock:
            failed = [i for i in self.invocations if i.error]
        return [f"{i.function_name}: {i.error}: {i.error_message}"[:300] for i in failed]

    def invoke(self, fn: Any, event: Any) -> tuple[Any, str | None]:
        """(result or error payload, error type or None)."""

        with self._environment_for(fn) as handler:
            return self._run(fn, handler, event)

    def _run(self, fn: Any, handler: Callable[[Any, Any], Any], event: Any) -> tuple[Any, str | None]:
        fault = self._fault_for(fn.function_name, event)
        record = Invocation(fn.function_name, event)
        context = _Context(fn)
        start = time.perf_counter()
        try:
            if fault and not fault.after:
                raise _Injected(fault)
            # Acts with its role, sees its own environment variables, writes to its log group.
            with (
                authz_hook.function_role(fn.role, fn.function_name),
                function_environment(self._environment(fn)),
                self.logs.invocation(fn),
            ):
                result = handler(event, context)
            if fault:
                raise _Injected(fault)
            record.result = result
            return result, None
        except Exception as exc:  # the Lambda runtime turns any exception into an error payload
            payload = _error_payload(exc, context.aws_request_id)
            record.error = payload["errorType"]
            record.error_message = str(payload["errorMessage"])
            self.logs.error_report(fn, _error_report(payload))
            return payload, payload["errorType"]
        finally:
            record.seconds = time.perf_counter() - start
            with self._lock:
                self.invocations.append(record)


def _error_payload(exc: Exception, request_id: str) -> dict[str, Any]:
    """What AWS's Python runtime (awslambdaric's bootstrap, make_error) returns for an exception a
    handler raised: Step Functions puts this JSON in the task failure's `cause`, so the next
    failure names the file and line. stackTrace is the whole traceback less the runtime's own
    frame (here `_run`'s, which calls the handler), as traceback.format_list gives it."""
    if isinstance(exc, _Injected):
        return {
            "errorMessage": exc.fault.message,
            "errorType": exc.fault.error_type,
            "requestId": request_id,
            "stackTrace": [],
        }
    frames = traceback.extract_tb(exc.__traceback__)[1:]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _error_report(payload: dict[str, Any]) -> str:
    """The runtime's line in the function's log group (its text log format): `[ERROR] Type: message`
    then the traceback, one log event."""
    lines = [f"[ERROR] {payload['errorType']}: {payload['errorMessage']}"]
    if payload["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(entry.rstrip("\n") for entry in payload["stackTrace"])
    return "\n".join(lines)


class _Injected(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


class _Context:
    """The attributes of Lambda's context object that handlers commonly read."""

    def __init__(self, fn: Any) -> None:
        self.function_name = fn.function_name
        self.invoked_function_arn = fn.function_arn
        self.memory_limit_in_mb = fn.memory_size
        self.aws_request_id = os.urandom(8).hex()

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


# -- the installer ---------------------------------------------------------------------------
@dataclass
class Shims:
    runtime: LambdaRuntime
    sagemaker_backend: Any  # dtrain.emulator.sagemaker.SageMakerBackend
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    delivery: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(8, "eventbridge"))
    pending: list[Future[Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver_async(self, call: Callable[[], Any]) -> Future[Any]:
        future = self.delivery.submit(call)
        with self._lock:
            self.pending.append(future)
        return future

    def failed_deliveries(self) -> list[str]:
        """Deliveries not yet drained that raised outside the handler (the runtime itself)."""
        with self._lock:
            pending = list(self.pending)
        return [repr(f.exception())[:300] for f in pending if f.done() and f.exception() is not None]

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every event handed to a Lambda target so far has been handled."""
        while True:
            with self._lock:
                pending, self.pending = self.pending, []
            if not pending:
                return
            for f in pending:
                f.result(timeout=timeout)


def _delivery(runtime: LambdaRuntime, fn: Any, event: dict[str, Any]) -> Callable[[], Any]:
    def deliver() -> Any:
        return runtime.invoke(fn, event)

    return deliver


def _lambda_by_arn(arn: str) -> Any:
    from moto.awslambda.models import lambda_backends

    parts = arn.split(":")
    account, region, name = parts[4], parts[3], parts[6]
    return lambda_backends[account][region].get_function(name)


@contextmanager
def installed(shims: Shims) -> Iterator[Shims]:
    """Install every shim for the duration of the block; restore moto afterwards.

    Each installer is given class_patches' patch(owner, name, value), which replaces an attribute
    of moto's and restores it when the block ends (an installer that fails midway included).
    moto is imported inside the installers: it is a test and emulator dependency only, and the
    Lambda-runtime test venv holds a part of it (see _install_deploy_support)."""
    try:
        with class_patches() as patch:
            _install_lambda(patch, shims)
            _install_step_functions(patch)
            _install_eventbridge(patch, shims)
            _install_sagemaker(patch, shims)
            _install_kms(patch)
            _install_sagemaker_gates(patch, shims)
            _install_deploy_support(patch)
            dynamodb_writes.install(patch)
            with function_env.installed():  # each function its own os.environ (function_env)
                yield shims
    finally:
        shims.delivery.shutdown(wait=False, cancel_futures=True)


def _install_lambda(patch: Patch, shims: Shims) -> None:
    """1. Lambda: run the handler from its zip."""
    from moto.awslambda.models import LambdaFunction

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        event = json.loads(body) if body else {}
        result, error = shims.runtime.invoke(self, event)
        if error:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = base64.b64encode(b"").decode()
        return json.dumps(result, default=event_bus.json_default).encode()

    patch(LambdaFunction, "invoke", invoke)


def _create_state_machine(
    cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw: Any
) -> Any:
    """CloudFormation's state machine, in the executing backend."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    props = cloudformation_json["Properties"]
    backend = stepfunctions_parser_backends[account_id][region_name]
    return backend.create_state_machine(
        name=props.get("StateMachineName", resource_name),
        definition=props.get("DefinitionString", ""),
        roleArn=props.get("RoleArn", ""),
        tags=[{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])],
        loggingConfiguration=props.get("LoggingConfiguration"),
        tracingConfiguration=props.get("TracingConfiguration"),
        sm_type=props.get("StateMachineType", "STANDARD"),
    )


def _update_state_machine(
    cls: Any,
    /,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kw: Any,
) -> Any:
    """moto's own update goes to its plain backend, which never held the state machines
    _create_state_machine put in the executing one: a second `cdk deploy` of the orchestration
    stack failed ExecuteChangeSet with StateMachineDoesNotExist. CloudFormation updates a state
    machine in place unless its StateMachineName changes (then it replaces it)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    props = cloudformation_json.get("Properties", {})
    backend = stepfunctions_parser_backends[account_id][region_name]
    if props.get("StateMachineName", original_resource.name) != original_resource.name:
        replacement = _create_state_machine(
            cls, new_resource_name, cloudformation_json, account_id, region_name
        )
        backend.delete_state_machine(original_resource.arn)
        return replacement
    updated = backend.update_state_machine(
        original_resource.arn,
        definition=props.get("DefinitionString"),
        role_arn=props.get("RoleArn"),
        logging_configuration=props.get("LoggingConfiguration"),
        tracing_configuration=props.get("TracingConfiguration"),
    )
    backend.tag_resource(updated.arn, {t["Key"]: t["Value"] for t in props.get("Tags", [])})
    return updated


def _install_step_functions(patch: Patch) -> None:
    """2. Step Functions: CloudFormation's state machines go to the executing backend; the
    context object's RedriveCount and SendTaskFailure's cause (the execution's ending:
    _install_execution_end)."""
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.responses import StepFunctionResponse

    patch(StateMachine, "create_from_cloudformation_json", classmethod(_create_state_machine))
    patch(StateMachine, "update_from_cloudformation_json", classmethod(_update_state_machine))

    # moto's SendTaskFailure drops `cause`; the execution's cause is the job's FailureReason.
    def send_task_failure(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    patch(StepFunctionResponse, "send_task_failure", send_task_failure)

    original_env = ExecutionWorker._get_evaluation_environment

    def evaluation_environment(self: Any) -> Any:
        env = original_env(self)
        execution: Any = env.states.context_object.context_object_data["Execution"]
        execution.setdefault("RedriveCount", 0)
        return env

    patch(ExecutionWorker, "_get_evaluation_environment", evaluation_environment)

    _install_execution_end(patch)
    _install_stopped_stays_aborted(patch)
    _install_callback_lookup(patch)


def _install_callback_lookup(patch: Patch) -> None:
    """2. Step Functions: SendTaskSuccess/Failure/Heartbeat (and the map-run calls) look for their
    token in every execution, one after the other, and read each one's evaluation environment.
    moto lists an execution before it has one: StartExecution appends it, then its worker thread
    parses the definition and only then sets `env` (tens of ms, more on a busy machine). A token
    answered in that window raised AttributeError ('NoneType' object has no attribute
    'callback_pool_manager') when the new execution's state machine came first in the list; the
    job-events Lambda failed, the event is not redelivered, and the execution that owned the
    token waited for good (CI-F's quota sweep: team nlp's execution started while vision's jobs
    were answered). An execution whose program has not begun holds no token and no map run, so
    the lookup passes over it."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    def executions_begun(self: Any, execution_status: Any = None) -> list[Any]:
        begun = []
        for machine in list(self.state_machines):
            for execution in list(machine.executions):
                worker = execution.exec_worker
                if worker is None or worker.env is None or execution.exec_status is None:
                    continue
                if execution_status is None or execution_status == execution.status:
                    begun.append(execution)
        return begun

    patch(StepFunctionsParserBackend, "_get_executions", executions_begun)


def _install_execution_end(patch: Patch) -> None:
    """2. Step Functions, an execution's end: its status-change event on the bus, and
    StopExecution releasing a task that waits on its callback."""
    from moto.stepfunctions.parser.backend import execution as sfn_execution

    original_terminated = sfn_execution.BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original_terminated(self)
        ex = self.execution
        status = ex.exec_status.value if ex.exec_status is not None else "UNKNOWN"
        detail = {
            "executionArn": ex.exec_arn,
            "stateMachineArn": ex.state_machine_arn,
            "name": ex.name,
            "status": status,
            "startDate": ex.start_date,
            "stopDate": ex.stop_date,
            "error": getattr(ex, "error", None),
            "cause": getattr(ex, "cause", None),
        }
        event_bus.put_event(
            ex.account_id,
            ex.region_name,
            "aws.states",
            "Step Functions Execution Status Change",
            detail,
            [ex.exec_arn],
        )

    patch(sfn_execution.BaseExecutionWorkerCommunication, "terminated", terminated)

    # StopExecution must also release a task waiting on its callback (moto leaves it waiting
    # until the task's timeout); the stopped program then ends ABORTED at once, as in AWS.
    original_stop = sfn_execution.Execution.stop

    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        original_stop(self, stop_date, error, cause)
        worker = self.exec_worker
        if worker is not None and worker.env is not None:
            from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeSuccess

            # An empty answer ends the wait; the stopped program then exits before the next
            # state, so no Catch path (and no failure notification) runs for an abort.
            for callback_id, endpoint in list(worker.env.callback_pool_manager._pool.items()):
                if endpoint.get_outcome() is None:
                    endpoint.notify(CallbackOutcomeSuccess(callback_id=callback_id, output="{}"))

    patch(sfn_execution.Execution, "stop", stop)


def _install_stopped_stays_aborted(patch: Patch) -> None:
    """2b. Step Functions: a stopped execution stays ABORTED, as in AWS."""
    # A stopped execution stays ABORTED, as in AWS. Stopped while a task's Lambda still runs (an
    # abort while Submit is creating the job), its program meets the stop only once the Lambda
    # returns; a failure answered to its token before that (the job the abort stopped: Submit or
    # the Abort Lambda stops it, job-events answers TrainingJobStopped) replaced the empty answer
    # above, the failed state turned the program's state from stopped to failed, and the execution
    # ended FAILED (test_abort_stops_the_training_job under load).
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    for name in ("set_error", "set_timed_out"):
        original = getattr(Environment, name)

        def stays_stopped(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            if not isinstance(self._program_state, ProgramStopped):
                _original(self, *args, **kwargs)

        patch(Environment, name, stays_stopped)


def _install_eventbridge(patch: Patch, shims: Shims) -> None:
    """3. EventBridge: deliver to Lambda targets too."""
    from moto.events.models import Rule

    original_send = Rule.send_to_targets
    targets_lock = threading.Lock()

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if self.scheduled_expression and not self.event_pattern._pattern:
            return  # a schedule rule matches no event: dtrain.emulator.schedules runs it
        lambda_targets = [t for t in self.targets if ":lambda:" in t["Arn"]]
        others = [t for t in self.targets if ":lambda:" not in t["Arn"]]
        if others:
            # moto raises on a Lambda target: hand it the other targets only.
            with targets_lock:
                all_targets, self.targets = self.targets, others
                try:
                    original_send(self, original_event, transform_input)
                finally:
                    self.targets = all_targets
        if not lambda_targets or not self.event_pattern.matches_event(original_event):
            return
        for target in lambda_targets:
            deliver_to_lambda_target(shims, self, target, dict(original_event))

    patch(Rule, "send_to_targets", send_to_targets)


def deliver_to_lambda_target(
    shims: Shims, rule: Any, target: dict[str, Any], event: dict[str, Any]
) -> Future[Any] | None:
    """Hand `event` to one Lambda target of `rule` (a moto Rule), asynchronously, as EventBridge
    does: the invocation's future; None when the function's resource policy refused EventBridge
    (the event is dropped, the refusal recorded, as EventBridge does)."""
    if target.get("Input") or target.get("InputPath") or target.get("InputTransformer"):
        raise EmulatorError(f"rule {rule.name}: input transformation of Lambda targets is not emulated")
    fn = _lambda_by_arn(target["Arn"])
    # EventBridge invokes as events.amazonaws.com: the function's resource policy must admit it.
    if not authz_hook.service_may_invoke("events.amazonaws.com", fn.function_arn, rule.arn):
        return None
    return shims.deliver_async(_delivery(shims.runtime, fn, event))


def _install_sagemaker(patch: Patch, shims: Shims) -> None:
    """4. SageMaker: ResourceInUse, throttling, status from the backend, StopTrainingJob."""
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    # The backend runs the job from the request as the client sent it (job_creates).
    patch_job_create(patch, "create_training_job", shims.sagemaker_backend, shims.sagemaker_backend.created)

    def stop_training_job(self: Any, training_job_name: str) -> None:
        # A job that is missing or has ended: refused by the lifecycle gate before this.
        job = self.training_jobs[training_job_name]
        if job.training_job_status == "InProgress":  # a second stop while Stopping: nothing to do
            shims.sagemaker_backend.stop_requested(self, job)

    def stop_response(self: Any) -> str:
        self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
        return "{}"

    patch(SageMakerModelBackend, "stop_training_job", stop_training_job)
    patch(SageMakerResponse, "stop_training_job", stop_response)


def _install_kms(patch: Patch) -> None:
    """5. KMS keys from CloudFormation carry Key/Value tags; moto's KMS expects TagKey/TagValue."""
    from moto.kms.models import Key as KmsKey

    original_key_cfn = KmsKey.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    @classmethod  # type: ignore[misc]
    def create_key(cls: Any, name: str, cfn_json: Any, account_id: str, region_name: str, **kw: Any) -> Any:
        props = dict(cfn_json.get("Properties", {}))
        props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        return original_key_cfn(cls, name, {**cfn_json, "Properties": props}, account_id, region_name, **kw)

    patch(KmsKey, "create_from_cloudformation_json", create_key)


def _install_sagemaker_gates(patch: Patch, shims: Shims) -> None:
    # SageMaker Processing: the same, in its own module.
    from dtrain.emulator import processing_backend

    processing_backend.install(patch, shims.sagemaker_backend)
    # The lifecycle gate in front of all of SageMaker; the job backend's stops last as long as
    # the lifecycle says.

    gate.install(patch, shims.lifecycle)
    for shared in ("durations", "quotas"):
        if hasattr(shims.sagemaker_backend, shared):
            setattr(shims.sagemaker_backend, shared, getattr(shims.lifecycle, shared))


def _install_deploy_support(patch: Patch) -> None:
    # CloudFormation as the CDK CLI drives it (template URLs, change sets). The Lambda-runtime
    # test venv installs moto with only the services the Lambdas call (requirements-lambda-dev.txt):
    # its moto.cloudformation cannot import (no openapi-spec-validator), and nothing there deploys.
    from dtrain.emulator import cdk_cli  # lazy: moto.cloudformation, absent from the Lambda test venv

    try:
        cdk_cli.install(patch)
    except ModuleNotFoundError as missing:
        if not (missing.name or "").startswith(("openapi_spec_validator", "moto")):
            raise


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="dtrain-emulator-"))
