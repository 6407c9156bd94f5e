"""What AWS does that moto leaves out, switched on in the emulator: limits, faults, time.

1. The state payload limit. Step Functions refuses any state input or output over 256 KiB
   (UTF-8) with States.DataLimitExceeded, which no Catch, not even States.ALL, handles: the
   execution fails (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html,
   "Maximum input or output size for a task, state, or execution";
   https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
   moto checks outputs only, with `<`; here inputs and outputs are checked, and the largest
   payload seen is recorded (benchmarks/sweep_payload.py prints it).
2. Faults. SageMaker answering 5xx or throttling a named operation for the next N calls (as it
   does, and botocore's retries then see); Step Functions' "Execution Status Change" events,
   which are best-effort, lost for the next N executions that end; SageMaker's state-change
   events, lost for the next N (EventBridge delivers "at least once" to a target it can reach, but
   a Lambda target that exhausts its retries drops the event: the platform's Reconcile is the
   backstop, run on its schedule by dtrain.emulator.schedules).
3. A clock that moves. Step Functions lets an execution name be used again once the old
   execution's history is gone, 90 days after it closed
   (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html);
   `advance(days=91)` moves the emulator's time so that reuse can be shown, and executions
   started after it carry the moved time as `$$.Execution.StartTime`.

4. StopExecution ends the execution at once (moto keeps it RUNNING while a task's Lambda runs).

`installed(behaviour)` patches moto for the duration of a block, like shims.installed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dtrain.emulator import event_bus

MAX_STATE_PAYLOAD_BYTES = 256 * 1024
EXECUTION_HISTORY_RETENTION = timedelta(days=90)
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"


@dataclass
class PayloadMeter:
    """The largest state input/output seen, and the limit it is held to."""

    limit_bytes: int = MAX_STATE_PAYLOAD_BYTES
    largest_bytes: int = 0
    largest_state: str = ""
    exceeded: list[tuple[str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def measure(self, state: str, value: Any) -> int:
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
        size = len(text.encode("utf-8"))
        with self._lock:
            if size > self.largest_bytes:
                self.largest_bytes, self.largest_state = size, state
            if size > self.limit_bytes:
                self.exceeded.append((state, size))
        return size

    def reset(self) -> None:
        with self._lock:
            self.largest_bytes, self.largest_state = 0, ""
            self.exceeded.clear()


@dataclass
class SageMakerFault:
    """The next `times` calls of `operation` (e.g. "DescribeTrainingJob") answer this error."""

    operation: str
    code: str = "InternalFailure"
    status: int = 500
    times: int = 1
    message: str = "injected by the emulator"


@dataclass
class ServiceBehaviour:
    payloads: PayloadMeter = field(default_factory=PayloadMeter)
    sagemaker_faults: list[SageMakerFault] = field(default_factory=list)
    sagemaker_faults_served: list[tuple[str, str]] = field(default_factory=list)
    execution_events_to_lose: int = 0
    lost_execution_events: list[dict[str, Any]] = field(default_factory=list)
    # SageMaker's state-change events (jobs, endpoints) that EventBridge never delivers.
    job_events_to_lose: int = 0
    lost_job_events: list[dict[str, Any]] = field(default_factory=list)
    clock_offset: timedelta = timedelta(0)
    # Executions whose run has finished (their end event put on the bus): StopExecution
    # reports ABORTED at once (4.), before a task's Lambda of it has returned.
    terminated: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- faults -----------------------------------------------------------------------------
    def fail_sagemaker(
        self, operation: str, *, code: str = "InternalFailure", status: int = 500, times: int = 1
    ) -> None:
        with self._lock:
            self.sagemaker_faults.append(SageMakerFault(operation, code, status, times))

    def throttle_sagemaker(self, operation: str, *, times: int = 1) -> None:
        # SageMaker's throttling answer: 400 ThrottlingException "Rate exceeded".
        with self._lock:
            self.sagemaker_faults.append(
                SageMakerFault(operation, "ThrottlingException", 400, times, message="Rate exceeded")
            )

    def _sagemaker_fault(self, operation: str) -> SageMakerFault | None:
        with self._lock:
            for fault in self.sagemaker_faults:
                if fault.operation == operation and fault.times > 0:
                    fault.times -= 1
                    self.sagemaker_faults_served.append((operation, fault.code))
                    return fault
        return None

    def lose_execution_events(self, count: int = 1) -> None:
        with self._lock:
            self.execution_events_to_lose += count

    def _deliver_execution_event(self, detail: dict[str, Any]) -> bool:
        with self._lock:
            if self.execution_events_to_lose > 0:
                self.execution_events_to_lose -= 1
                self.lost_execution_events.append(detail)
                return False
        return True

    def lose_job_events(self, count: int = 1) -> None:
        """The next `count` SageMaker state-change events never reach their rules."""
        with self._lock:
            self.job_events_to_lose += count

    def _deliver_job_event(self, detail: dict[str, Any]) -> bool:
        with self._lock:
            if self.job_events_to_lose > 0:
                self.job_events_to_lose -= 1
                self.lost_job_events.append(detail)
                return False
        return True

    # -- clock ------------------------------------------------------------------------------
    def advance(self, *, days: float = 0, seconds: float = 0) -> None:
        with self._lock:
            self.clock_offset += timedelta(days=days, seconds=seconds)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Sets `owner.name` to a value for the duration of `installed`'s block.
_Patch = Callable[[Any, str, Any], None]


@contextmanager
def installed(behaviour: ServiceBehaviour) -> Iterator[ServiceBehaviour]:
    """Patch moto (and the emulator's event shim) for the block; restore afterwards."""
    saved: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    for install in (
        _limit_state_payloads,
        _answer_sagemaker_faults,
        _lose_execution_events,
        _move_the_clock,
        _stop_at_once,
    ):
        install(behaviour, patch)
    try:
        yield behaviour
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


def _limit_state_payloads(behaviour: ServiceBehaviour, patch: _Patch) -> None:
    """1. The payload limit on a state's input (entered) and output (after its output processing)."""
    from moto.stepfunctions.parser.asl.component.state import state as state_module
    from moto.stepfunctions.parser.asl.component.state.choice.state_choice import StateChoice
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    State = state_module.CommonStateField
    original_entered = State._get_state_entered_event_details

    def entered(self: Any, env: Any) -> Any:
        size = behaviour.payloads.measure(self.name, env.states.get_input())
        if size > behaviour.payloads.limit_bytes:
            _data_limit_exceeded(self, env, f"input of {size} bytes")
        return original_entered(self, env)

    patch(State, "_get_state_entered_event_details", entered)

    def output_checked(original: Any) -> Any:
        def eval_state_output(self: Any, env: Any) -> None:
            original(self, env)
            size = behaviour.payloads.measure(self.name, env.states.get_input())
            if size > behaviour.payloads.limit_bytes:
                _data_limit_exceeded(self, env, f"output of {size} bytes")

        return eval_state_output

    for cls in (State, ExecutionState, StateChoice):
        patch(cls, "_eval_state_output", output_checked(cls.__dict__["_eval_state_output"]))


def _answer_sagemaker_faults(behaviour: ServiceBehaviour, patch: _Patch) -> None:
    """2a. SageMaker faults: answered before moto sees the call."""
    from moto.sagemaker.responses import SageMakerResponse

    original_call_action = SageMakerResponse.call_action

    def call_action(self: Any) -> Any:
        fault = behaviour._sagemaker_fault(self._get_action())
        if fault is None:
            return original_call_action(self)
        body = json.dumps({"__type": fault.code, "message": fault.message})
        return fault.status, {"status": str(fault.status), "x-amzn-ErrorType": fault.code}, body

    patch(SageMakerResponse, "call_action", call_action)


def _lose_execution_events(behaviour: ServiceBehaviour, patch: _Patch) -> None:
    """2b. Events lost on the way: Step Functions' execution events (the shim puts them through
    event_bus.put_event) and SageMaker's state changes (dtrain.emulator.lifecycle.events)."""
    original_put_event = event_bus.put_event

    def put_event(
        account: str, region: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]
    ) -> None:
        if source == "aws.states" and not behaviour._deliver_execution_event(detail):
            return
        if source == "aws.sagemaker" and not behaviour._deliver_job_event(detail):
            return
        original_put_event(account, region, source, detail_type, detail, resources)

    patch(event_bus, "put_event", put_event)


def _move_the_clock(behaviour: ServiceBehaviour, patch: _Patch) -> None:
    """3. The clock: moved start times, and names free again once an execution's history expired."""
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.parser.backend import execution as sfn_execution

    original_start = sfn_execution.Execution.start

    def start(self: Any) -> None:
        if behaviour.clock_offset:
            self.start_date = self.start_date + behaviour.clock_offset
        original_start(self)

    patch(sfn_execution.Execution, "start", start)

    original_idempotency = StateMachine._handle_name_input_idempotency

    def name_idempotency(self: Any, name: str, execution_input: str) -> Any:
        now = behaviour.now()
        expired = [
            ex
            for ex in self.executions
            if ex.name == name
            and (stop := _aware(getattr(ex, "stop_date", None))) is not None
            and now - stop > EXECUTION_HISTORY_RETENTION
        ]
        for ex in expired:  # AWS deletes the history 90 days after close: the ARN is free
            self.executions.remove(ex)
        return original_idempotency(self, name, execution_input)

    patch(StateMachine, "_handle_name_input_idempotency", name_idempotency)


def _stop_at_once(behaviour: ServiceBehaviour, patch: _Patch) -> None:
    """4. StopExecution takes effect at once in AWS (DescribeExecution says ABORTED while a
    Lambda of it still runs); moto says RUNNING until that Lambda returns."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend import execution as sfn_execution

    original_stop = sfn_execution.Execution.stop

    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        original_stop(self, stop_date, error, cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date

    patch(sfn_execution.Execution, "stop", stop)

    original_terminated = sfn_execution.BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original_terminated(self)
        with behaviour._lock:
            behaviour.terminated.add(str(self.execution.exec_arn))

    patch(sfn_execution.BaseExecutionWorkerCommunication, "terminated", terminated)


def _data_limit_exceeded(state: Any, env: Any, what: str) -> None:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error_type = StatesErrorNameType.StatesStatesDataLimitExceeded
    raise FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error_type),
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                executionFailedEventDetails=ExecutionFailedEventDetails(
                    error=error_type.to_name(),
                    cause=f"The state '{state.name}' has an {what}, over the limit of 262144 bytes.",
                )
            ),
        )
    )
