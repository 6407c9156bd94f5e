"""Each Lambda task state's input, built from the payload class its Lambda parses.

The classes are dtrain.orchestration.payloads (the Lambdas' side, no CDK); here each of their
fields is bound to a JsonPath into the state or the context object. `task_input` refuses a field
the class lacks, a required field left unbound, and a phase or mode that is not the class's, so
a field cannot exist on one side only. A field bound to None is left out of the payload; the
payload's keys follow the class's field order.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_cdk import aws_stepfunctions as sfn

from dtrain.orchestration import payloads as runtime
from dtrain.orchestration.typed_payload import Payload

# Per execution, read from the context object.
EXECUTION_ARN = sfn.JsonPath.execution_id
EXECUTION_NAME = sfn.JsonPath.execution_name
# The start time tells apart two executions of one name (names may be reused after 90 days).
EXECUTION_START = sfn.JsonPath.string_at("$$.Execution.StartTime")


def payload_object(payload: type[Payload], /, **bound: Any) -> dict[str, Any]:
    """The payload's keys and values (JsonPaths or literals), checked against its class."""
    names = [f.name for f in dataclasses.fields(payload)]
    unknown = sorted(set(bound) - set(names))
    if unknown:
        raise ValueError(f"{payload.__name__} has no field {', '.join(unknown)}")
    unbound = [name for name in payload.required() if bound.get(name) is None]
    if unbound:
        raise ValueError(f"{payload.__name__} needs {', '.join(unbound)}")
    classes = runtime.BY_LAMBDA[payload.LAMBDA][1]
    if classes.get(bound[payload.KEY]) is not payload:
        raise ValueError(f"{payload.__name__} is not the payload of {payload.KEY} {bound[payload.KEY]!r}")
    return {name: bound[name] for name in names if bound.get(name) is not None}


def task_input(payload: type[Payload], /, **bound: Any) -> sfn.TaskInput:
    return sfn.TaskInput.from_object(payload_object(payload, **bound))


def prepare_input(team: str | None = None) -> sfn.TaskInput:
    """Submit's `prepare`: the whole execution input is the spec. `team`: the team whose state
    machine this is (a literal of the definition; None on a platform without teams)."""
    return task_input(runtime.PreparePayload, phase="prepare", spec=sfn.JsonPath.entire_payload, team=team)


def submit_input(
    phase: str,
    spec: Any,
    *,
    processing: Any = None,
    item_index: Any = None,
    overrides: Any = None,
    is_sweep_item: bool | None = None,
    team: str | None = None,
) -> sfn.TaskInput:
    """Submit's `process` and `submit` (waitForTaskToken)."""
    return task_input(
        runtime.SubmitPayload,
        phase=phase,
        spec=spec,
        task_token=sfn.JsonPath.task_token,
        execution_arn=EXECUTION_ARN,
        execution_name=EXECUTION_NAME,
        retry_count=sfn.JsonPath.number_at("$$.State.RetryCount"),
        redrive_count=sfn.JsonPath.number_at("$$.Execution.RedriveCount"),
        execution_start=EXECUTION_START,
        processing=processing,
        item_index=item_index,
        overrides=overrides,
        is_sweep_item=is_sweep_item,
        team=team,
    )


def hosting_input(
    phase: str, *, model: Any = None, task_token: str | None = None, team: str | None = None
) -> sfn.TaskInput:
    """Submit's `model`, `deploy` and `transform`, after training (or a sweep's ranking)."""
    return task_input(
        runtime.HostingPayload,
        phase=phase,
        spec=sfn.JsonPath.object_at("$.plan.spec"),
        training=sfn.JsonPath.object_at("$.final.result"),
        execution_arn=EXECUTION_ARN,
        execution_name=EXECUTION_NAME,
        execution_start=EXECUTION_START,
        model=model,
        task_token=task_token,
        team=team,
    )


def failure_input() -> sfn.TaskInput:
    return task_input(
        runtime.FailurePayload,
        mode="failure",
        error=sfn.JsonPath.object_at("$.error"),
        execution_arn=EXECUTION_ARN,
        execution_name=EXECUTION_NAME,
    )


def finalize_job_input() -> sfn.TaskInput:
    return task_input(
        runtime.FinalizeJobPayload,
        mode="job",
        job_name=sfn.JsonPath.string_at("$.job.job_name"),
        execution_arn=EXECUTION_ARN,
    )


def item_result_input() -> sfn.TaskInput:
    return task_input(
        runtime.ItemResultPayload,
        mode="item",
        job_name=sfn.JsonPath.string_at("$.job.job_name"),
        index=sfn.JsonPath.number_at("$.index"),
        objective_metric=sfn.JsonPath.string_at("$.objective_metric"),
    )


def rank_sweep_input() -> sfn.TaskInput:
    return task_input(
        runtime.RankSweepPayload,
        mode="sweep",
        results=sfn.JsonPath.object_at("$.sweep_results"),
        plan=sfn.JsonPath.object_at("$.plan"),
        execution_arn=EXECUTION_ARN,
    )


def finalize_hosting_input() -> sfn.TaskInput:
    return task_input(
        runtime.FinalizeHostingPayload,
        mode="hosting",
        kind=sfn.JsonPath.string_at("$.plan.hosting.kind"),
        training=sfn.JsonPath.object_at("$.final.result"),
        model=sfn.JsonPath.object_at("$.model"),
        hosting=sfn.JsonPath.object_at("$.hosting"),
        execution_arn=EXECUTION_ARN,
    )
