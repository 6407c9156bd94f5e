"""The payloads the state machine hands its Lambda tasks, one typed class per kind of state.

Each field is a key the receiving Lambda reads (lambda/submit_job: `phase` and the request of
that phase, dtrain.orchestration.submit / .hosting; lambda/finalize: `mode`, dtrain.orchestration
.finalize / .hosting_result), its value a JsonPath into the state or the context object. A field
left None is left out of the payload; the fields' order is the payload's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from aws_cdk import aws_stepfunctions as sfn

# Per execution, read from the context object.
EXECUTION_ARN = sfn.JsonPath.execution_id
EXECUTION_NAME = sfn.JsonPath.execution_name
# The start time tells apart two executions of one name (names may be reused after 90 days).
EXECUTION_START = sfn.JsonPath.string_at("$$.Execution.StartTime")


class Payload:
    def as_dict(self) -> dict[str, Any]:
        values = ((f.name, getattr(self, f.name)) for f in fields(self))  # type: ignore[arg-type]
        return {name: value for name, value in values if value is not None}

    def task_input(self) -> sfn.TaskInput:
        return sfn.TaskInput.from_object(self.as_dict())


@dataclass(frozen=True)
class PreparePayload(Payload):
    """Submit's `prepare` phase: the execution input is the spec; it returns the plan."""

    phase: str = "prepare"
    spec: Any = sfn.JsonPath.entire_payload


@dataclass(frozen=True)
class SubmitPayload(Payload):
    """Submit's `process` and `submit` phases: create the job, then wait for its callback."""

    phase: str
    spec: Any
    task_token: str = sfn.JsonPath.task_token
    execution_arn: str = EXECUTION_ARN
    execution_name: str = EXECUTION_NAME
    retry_count: Any = field(default_factory=lambda: sfn.JsonPath.number_at("$$.State.RetryCount"))
    # No redrive count: every failure is caught and ends in the Fail state, so a redrive
    # would restart at that Fail state and never reach Submit again.
    execution_start: str = EXECUTION_START
    # `submit` only: the Process step's callback output (its job's name: training reads its
    # outputs), or null without a processing step.
    processing: Any = None
    # A sweep item's: its index and overrides.
    item_index: Any = None
    overrides: Any = None
    is_sweep_item: bool | None = None


@dataclass(frozen=True)
class HostingPayload(Payload):
    """Submit's hosting phases (`model`, `deploy`, `transform`; dtrain.orchestration.hosting)."""

    phase: str
    spec: Any = field(default_factory=lambda: sfn.JsonPath.object_at("$.plan.spec"))
    training: Any = field(default_factory=lambda: sfn.JsonPath.object_at("$.final.result"))
    execution_arn: str = EXECUTION_ARN
    execution_name: str = EXECUTION_NAME
    execution_start: str = EXECUTION_START
    model: Any = None  # the model phase's output, for deploy and transform
    task_token: str | None = None  # deploy and transform wait for the state-change callback


@dataclass(frozen=True)
class FailurePayload(Payload):
    """Finalize's `failure` mode: the caught error in plain words, and the notification."""

    mode: str = "failure"
    error: Any = field(default_factory=lambda: sfn.JsonPath.object_at("$.error"))
    execution_arn: str = EXECUTION_ARN
    execution_name: str = EXECUTION_NAME


@dataclass(frozen=True)
class FinalizeJobPayload(Payload):
    mode: str = "job"
    job_name: str = sfn.JsonPath.string_at("$.job.job_name")
    execution_arn: str = EXECUTION_ARN


@dataclass(frozen=True)
class ItemResultPayload(Payload):
    mode: str = "item"
    job_name: str = sfn.JsonPath.string_at("$.job.job_name")
    index: Any = field(default_factory=lambda: sfn.JsonPath.number_at("$.index"))
    objective_metric: str = sfn.JsonPath.string_at("$.objective_metric")


@dataclass(frozen=True)
class RankSweepPayload(Payload):
    mode: str = "sweep"
    results: Any = field(default_factory=lambda: sfn.JsonPath.object_at("$.sweep_results"))
    plan: Any = field(default_factory=lambda: sfn.JsonPath.object_at("$.plan"))
    execution_arn: str = EXECUTION_ARN


@dataclass(frozen=True)
class FinalizeHostingPayload(Payload):
    mode: str = "hosting"
    kind: str = sfn.JsonPath.string_at("$.plan.hosting.kind")
    training: Any = field(default_factory=lambda: sfn.JsonPath.object_at("$.final.result"))
    model: Any = field(default_factory=lambda: sfn.JsonPath.object_at("$.model"))
    hosting: Any = field(default_factory=lambda: sfn.JsonPath.object_at("$.hosting"))
    execution_arn: str = EXECUTION_ARN
