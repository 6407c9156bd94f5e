"""The payloads the Lambdas receive: one typed class per kind of state-machine task, and per
EventBridge event a Lambda is the target of.

The one source for each payload's fields, their types and which are optional:

- the stack builds each task state's input from these classes (dtrain.constructs
  .orchestration.payloads binds every field to a JsonPath, and refuses a field a class lacks or
  a required field left unbound), and tests/stacks/test_task_payloads.py checks the synthesized
  state machine against them;
- the Submit and Finalize Lambdas parse their event into them (parse_submit_event,
  parse_finalize_event): one parse per kind, refusing a missing or wrongly typed field with
  InvalidEvent, which names the field and the phase or mode.

The abort_job and job_events Lambdas parse their EventBridge event the same way
(ExecutionStatusChange, SageMakerStateChange); reconcile's scheduled event carries nothing it reads.

A field with a default may be absent (or null) in the event; the default stands for it, as the
Lambdas read it before these classes (`event.get(key) or default`). The fields' order is the
order of the keys in the synthesized payload. No CDK here: the Lambdas import this module.
The classes are not frozen: frozen's generated __setattr__ cost about 3 ms of CPU per cold start
for these 11 classes (python3.13, measured with the module compiled), and a payload is built
once per invocation and only read.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.job_kinds import BY_DETAIL_TYPE, JobKind
from dtrain.orchestration.typed_payload import Payload


@dataclass(kw_only=True)
class PreparePayload(Payload):
    """Submit's `prepare` phase: the execution input is the spec; it returns the plan."""

    KEY = "phase"
    LAMBDA = "submit_job"

    phase: str
    # The execution input as the user sent it: Prepare judges it (InvalidEvent if not an object,
    # else the spec's errors in plain words).
    spec: Any = field(default_factory=dict)
    # The team whose state machine runs the execution (a constant of its definition, never the
    # spec's: dtrain.team_names); "" on a platform without teams. Submit takes the team's settings.
    team: str = ""


@dataclass(kw_only=True)
class SubmitPayload(Payload):
    """Submit's `process` and `submit` phases: create the job, then wait for its callback."""

    KEY = "phase"
    LAMBDA = "submit_job"

    phase: str
    spec: Mapping[str, Any]
    task_token: str
    execution_arn: str
    execution_name: str
    retry_count: int = 0
    # $$.Execution.RedriveCount. A failed execution's redrive restarts at its Fail state, but an
    # aborted or timed-out one's reruns the Submit that was cut off (RedriveExecution "continues
    # the failed execution from the unsuccessful step"): Submit creates a new job then.
    redrive_count: int = 0
    execution_start: str = ""  # $$.Execution.StartTime: tells apart two executions of one name
    # `submit` only: the Process step's callback output (its job's name: training reads its
    # outputs), or null without a processing step.
    processing: Mapping[str, Any] | None = None
    # A sweep item's: its index and overrides.
    item_index: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    is_sweep_item: bool = False
    # The team whose state machine runs the execution (a constant of its definition, never the
    # spec's: dtrain.team_names); "" on a platform without teams. Submit takes the team's settings.
    team: str = ""


@dataclass(kw_only=True)
class HostingPayload(Payload):
    """Submit's hosting phases (`model`, `deploy`, `transform`; dtrain.orchestration.hosting)."""

    KEY = "phase"
    LAMBDA = "submit_job"

    phase: str
    spec: Mapping[str, Any]
    training: Mapping[str, Any] = field(default_factory=dict)  # Finalize's result
    execution_arn: str
    execution_name: str
    execution_start: str = ""
    model: Mapping[str, Any] = field(default_factory=dict)  # the model phase's output
    task_token: str = ""  # deploy and transform wait for the state-change callback
    # The team whose state machine runs the execution (a constant of its definition, never the
    # spec's: dtrain.team_names); "" on a platform without teams. Submit takes the team's settings.
    team: str = ""


@dataclass(kw_only=True)
class FailurePayload(Payload):
    """Finalize's `failure` mode: the caught error in plain words, and the notification."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    error: Mapping[str, Any] = field(default_factory=dict)
    execution_arn: str = ""
    execution_name: str = ""


@dataclass(kw_only=True)
class FinalizeJobPayload(Payload):
    """Finalize's `job` mode: one training job's result."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    job_name: str
    execution_arn: str = ""


@dataclass(kw_only=True)
class ItemResultPayload(Payload):
    """Finalize's `item` mode: a sweep item's slim result row."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    job_name: str
    index: int = 0
    objective_metric: str = ""


@dataclass(kw_only=True)
class RankSweepPayload(Payload):
    """Finalize's `sweep` mode: the ranked rows and the next state."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    results: list[Any] = field(default_factory=list)
    plan: Mapping[str, Any] = field(default_factory=dict)  # Prepare's plan (less its items' rows)
    execution_arn: str = ""


@dataclass(kw_only=True)
class FinalizeHostingPayload(Payload):
    """Finalize's `hosting` mode: the endpoint's or transform job's result."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    kind: str = ""  # the plan's hosting kind: deploy or transform
    training: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    hosting: Mapping[str, Any] = field(default_factory=dict)
    execution_arn: str = ""


# EventBridge's Step Functions event, from "Step Functions events in EventBridge"
# (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html).
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"


@dataclass(kw_only=True)
class ExecutionStatusChange(Payload):
    """An execution's new status (abort_job: an execution ended, stop its jobs)."""

    KEY = "detail-type"
    LAMBDA = "abort_job"
    NOUN = "event"
    PATHS = {
        "detail_type": ("detail-type",),
        "execution_arn": ("detail", "executionArn"),
        "status": ("detail", "status"),
    }

    detail_type: str
    execution_arn: str
    status: str = ""

    @property
    def execution_name(self) -> str:
        return self.execution_arn.rpartition(":")[2]


@dataclass(kw_only=True)
class SageMakerStateChange(Payload):
    """A SageMaker job's or endpoint's state change (job_events: answer the waiting execution);
    the detail is the Describe* answer's shape (dtrain.orchestration.outcome reads it)."""

    KEY = "detail-type"
    LAMBDA = "job_events"
    NOUN = "event"
    PATHS = {"detail_type": ("detail-type",)}

    detail_type: str
    detail: Mapping[str, Any]

    @property
    def job_kind(self) -> JobKind:
        return BY_DETAIL_TYPE[self.detail_type]

    @property
    def resource_name(self) -> str:
        """The job's (or endpoint's) name, as the kind's detail names it."""
        return str(self.detail.get(self.job_kind.name_key) or "")


SubmitEvent = PreparePayload | SubmitPayload | HostingPayload
FinalizeEvent = (
    FailurePayload | FinalizeJobPayload | ItemResultPayload | RankSweepPayload | FinalizeHostingPayload
)

# Which class each phase (Submit) or mode (Finalize) is: the Lambdas dispatch on it, the stack
# binds a phase or mode only to its class.
SUBMIT_PHASES: dict[str, type[SubmitEvent]] = {
    "prepare": PreparePayload,
    "process": SubmitPayload,  # the spec's processing job, before training
    "submit": SubmitPayload,
    "model": HostingPayload,
    "deploy": HostingPayload,
    "transform": HostingPayload,
}
FINALIZE_MODES: dict[str, type[FinalizeEvent]] = {
    "job": FinalizeJobPayload,
    "item": ItemResultPayload,
    "failure": FailurePayload,
    "sweep": RankSweepPayload,
    "hosting": FinalizeHostingPayload,
}
# Per Lambda: the key that picks the class, and the classes by its value.
BY_LAMBDA: dict[str, tuple[str, Mapping[str, type[Payload]]]] = {
    "submit_job": ("phase", SUBMIT_PHASES),
    "finalize": ("mode", FINALIZE_MODES),
    "abort_job": ("detail-type", {EXECUTION_STATUS_CHANGE: ExecutionStatusChange}),
    "job_events": ("detail-type", dict.fromkeys(BY_DETAIL_TYPE, SageMakerStateChange)),
}


def parse_submit_event(event: Mapping[str, Any]) -> SubmitEvent:
    return typing.cast(SubmitEvent, _parse("submit_job", event))


def parse_finalize_event(event: Mapping[str, Any]) -> FinalizeEvent:
    return typing.cast(FinalizeEvent, _parse("finalize", event))


def parse_execution_status_change(event: Mapping[str, Any]) -> ExecutionStatusChange:
    return typing.cast(ExecutionStatusChange, _parse("abort_job", event))


def parse_sagemaker_state_change(event: Mapping[str, Any]) -> SageMakerStateChange:
    return typing.cast(SageMakerStateChange, _parse("job_events", event))


def _parse(lambda_name: str, event: Mapping[str, Any]) -> Payload:
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"{lambda_name} event is {type(event).__name__}, expected an object")
    key, classes = BY_LAMBDA[lambda_name]
    value = event.get(key)
    kind = classes.get(value) if isinstance(value, str) else None
    if kind is None:
        raise InvalidEvent(f"{lambda_name} event: unknown {key} {value!r}; expected {', '.join(classes)}")
    return kind.parse(event)
