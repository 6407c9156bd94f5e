"""The Submit and Finalize Lambdas parse their event into one typed payload per phase or mode
(dtrain.orchestration.payloads): a missing or wrongly typed field is refused with InvalidEvent,
which names the field and the phase or mode; an absent optional field takes its default."""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from typing import Any

import pytest

from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.hosting import HostingRequest
from dtrain.orchestration.job_kinds import PROCESSING, TRAINING
from dtrain.orchestration.payloads import (
    BY_LAMBDA,
    FinalizeHostingPayload,
    FinalizeJobPayload,
    HostingPayload,
    ItemResultPayload,
    PreparePayload,
    SubmitPayload,
    parse_execution_status_change,
    parse_finalize_event,
    parse_sagemaker_state_change,
    parse_submit_event,
)
from dtrain.orchestration.submit import SubmitRequest

EXEC = "arn:aws:states:us-east-1:123456789012:execution:dtrain:run-1"
# A complete event of each phase and mode, as the state machine sends it.
FULL: dict[str, dict[str, Any]] = {
    "prepare": {"phase": "prepare", "spec": {"job_name": "j"}, "team": "vision"},
    "submit": {
        "phase": "submit",
        "spec": {"job_name": "j"},
        "task_token": "tok",
        "execution_arn": EXEC,
        "execution_name": "run-1",
        "retry_count": 1,
        "redrive_count": 1,
        "execution_start": "2026-11-28T01:00:00.000Z",
        "processing": {"job_name": "p"},
        "item_index": 2,
        "overrides": {"hyperparameters": {"lr": 0.1}},
        "is_sweep_item": True,
        "team": "vision",
    },
    "deploy": {
        "phase": "deploy",
        "spec": {"job_name": "j"},
        "training": {"job_name": "t"},
        "execution_arn": EXEC,
        "execution_name": "run-1",
        "execution_start": "2026-11-28T01:00:00.000Z",
        "model": {"model_name": "m"},
        "task_token": "tok",
        "team": "vision",
    },
    "failure": {"mode": "failure", "error": {"Error": "E"}, "execution_arn": EXEC, "execution_name": "run-1"},
    "job": {"mode": "job", "job_name": "j", "execution_arn": EXEC},
    "item": {"mode": "item", "job_name": "j", "index": 3, "objective_metric": "loss"},
    "sweep": {"mode": "sweep", "results": [], "plan": {"items": []}, "execution_arn": EXEC},
    "hosting": {
        "mode": "hosting",
        "kind": "deploy",
        "training": {},
        "model": {},
        "hosting": {},
        "execution_arn": EXEC,
    },
    # EventBridge's, to abort_job and job_events.
    "ended": {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXEC, "status": "ABORTED"},
    },
    "job-event": {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Processing Job State Change",
        "detail": {"ProcessingJobName": "dtrain-p", "ProcessingJobStatus": "Completed"},
    },
}
LAMBDA_OF = {"ended": "abort_job", "job-event": "job_events"}
PARSERS = {
    "submit_job": parse_submit_event,
    "finalize": parse_finalize_event,
    "abort_job": parse_execution_status_change,
    "job_events": parse_sagemaker_state_change,
}


def _lambda(case: str) -> str:
    return LAMBDA_OF.get(case) or ("submit_job" if "phase" in FULL[case] else "finalize")


def _parse(case: str, event: dict[str, Any] | None = None) -> Any:
    """The case's event (or `event`), parsed by the Lambda that receives the case's event."""
    return PARSERS[_lambda(case)](FULL[case] if event is None else event)


def _where(case: str) -> str:
    """How a refusal names the event: its Lambda, and the phase, mode or detail-type."""
    key = BY_LAMBDA[_lambda(case)][0]
    noun = "event" if case in LAMBDA_OF else "payload"
    return re.escape(f"{_lambda(case)} {noun} ({key} {FULL[case][key]!r})")


def test_every_phase_and_mode_has_a_full_event_here() -> None:
    """So the tests below cover every class the Lambdas parse."""
    classes = {cls for _, by_value in BY_LAMBDA.values() for cls in by_value.values()}
    assert {type(_parse(case)) for case in FULL} == classes


@pytest.mark.parametrize(
    ("case", "field"),
    [(case, name) for case in FULL for name in type(_parse(case)).required()],
)
def test_a_missing_required_field_is_refused_naming_it_and_the_phase_or_mode(case: str, field: str) -> None:
    kind = type(_parse(case))
    path = kind.PATHS.get(field, (field,))
    event = copy.deepcopy(FULL[case])
    parent = functools.reduce(lambda at, key: at[key], path[:-1], event)
    if path == (kind.KEY,):  # the phase, mode or detail-type: no class to parse as
        del parent[path[-1]]
        with pytest.raises(InvalidEvent, match=f"unknown {kind.KEY} None"):
            _parse(case, event)
        return
    parent[path[-1]] = None  # null is as absent (a JsonPath to a missing object yields null)
    with pytest.raises(InvalidEvent, match=rf"{_where(case)} lacks the field '{'.'.join(path)}'$"):
        _parse(case, event)
    del parent[path[-1]]
    with pytest.raises(InvalidEvent, match=rf"{_where(case)} lacks the field '{'.'.join(path)}'$"):
        _parse(case, event)


@pytest.mark.parametrize(
    ("case", "field", "value", "message"),
    [
        ("submit", "retry_count", "1", "'retry_count' is a string, expected an integer"),
        ("submit", "item_index", True, "'item_index' is a boolean, expected an integer or null"),
        ("submit", "spec", ["a"], "'spec' is an array, expected an object"),
        ("submit", "processing", "p", "'processing' is a string, expected an object or null"),
        ("deploy", "model", [], "'model' is an array, expected an object"),
        ("job", "job_name", 7, "'job_name' is an integer, expected a string"),
        ("item", "index", 1.5, "'index' is a number, expected an integer"),
        ("sweep", "results", {}, "'results' is an object, expected an array"),
        ("job-event", "detail", "x", "'detail' is a string, expected an object"),
    ],
)
def test_a_wrongly_typed_field_is_refused_naming_it_and_its_type(
    case: str, field: str, value: Any, message: str
) -> None:
    with pytest.raises(InvalidEvent, match=rf"{_where(case)}: {message}$"):
        _parse(case, FULL[case] | {field: value})


def test_a_field_inside_the_detail_is_refused_by_its_path() -> None:
    ended = FULL["ended"] | {"detail": {"executionArn": 7}}
    with pytest.raises(InvalidEvent, match=r"'detail\.executionArn' is an integer, expected a string$"):
        parse_execution_status_change(ended)


def test_an_unknown_phase_or_mode_and_a_non_object_event_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="unknown phase 'train'; expected prepare, process, submit"):
        parse_submit_event({"phase": "train"})
    with pytest.raises(InvalidEvent, match="unknown mode 'all'; expected job, item, failure, sweep"):
        parse_finalize_event({"mode": "all"})
    with pytest.raises(InvalidEvent, match="finalize event is list, expected an object"):
        parse_finalize_event([])  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="job_events event: unknown detail-type 'Scheduled Event'"):
        parse_sagemaker_state_change({"detail-type": "Scheduled Event", "detail": {}})


def test_absent_optional_fields_take_the_defaults_the_lambdas_read_before() -> None:
    submit = parse_submit_event({k: FULL["submit"][k] for k in SubmitPayload.required()})
    assert (submit.retry_count, submit.execution_start, submit.processing) == (0, "", None)
    assert (submit.item_index, submit.overrides, submit.is_sweep_item) == (None, {}, False)
    assert parse_submit_event({"phase": "prepare"}) == PreparePayload(phase="prepare", spec={})
    assert parse_finalize_event({"mode": "item", "job_name": "j", "index": None}) == ItemResultPayload(
        mode="item", job_name="j", index=0, objective_metric=""
    )
    hosting = parse_finalize_event({"mode": "hosting"})
    assert hosting == FinalizeHostingPayload(mode="hosting")
    assert (hosting.kind, hosting.training, hosting.execution_arn) == ("", {}, "")


def test_a_parsed_payload_keeps_every_value_and_becomes_the_request() -> None:
    submit = _parse("submit")
    assert {f.name: getattr(submit, f.name) for f in dataclasses.fields(submit)} == FULL["submit"]
    assert isinstance(submit, SubmitPayload)
    request = SubmitRequest.from_payload(submit)
    assert (request.kind, request.item_index, request.processing) == (TRAINING, 2, {"job_name": "p"})
    assert request.redrive_count == 1
    process = parse_submit_event(FULL["submit"] | {"phase": "process"})
    assert isinstance(process, SubmitPayload)
    assert SubmitRequest.from_payload(process).kind == PROCESSING
    deploy = parse_submit_event(FULL["deploy"])
    assert isinstance(deploy, HostingPayload)
    assert HostingRequest.from_payload(deploy).model == {"model_name": "m"}
    assert parse_finalize_event(FULL["job"]) == FinalizeJobPayload(
        mode="job", job_name="j", execution_arn=EXEC
    )


def test_the_correlation_keys_are_the_payloads_own() -> None:
    assert parse_submit_event(FULL["submit"]).correlation() == {"execution_name": "run-1", "item_index": 2}
    assert parse_finalize_event(FULL["item"]).correlation() == {"job_name": "j", "item_index": 3}
    assert parse_finalize_event(FULL["sweep"]).correlation() == {}


def test_the_eventbridge_events_name_their_execution_and_resource() -> None:
    ended = parse_execution_status_change(FULL["ended"])
    assert (ended.execution_name, ended.status) == ("run-1", "ABORTED")
    change = parse_sagemaker_state_change(FULL["job-event"])
    assert (change.job_kind.kind, change.resource_name) == (PROCESSING, "dtrain-p")


def test_the_lambdas_refuse_a_missing_field_before_any_call(
    load_handler: Any, lambda_context: Any, aws: Any
) -> None:
    submit = {k: v for k, v in FULL["submit"].items() if k != "task_token"}
    with pytest.raises(
        InvalidEvent, match=r"submit_job payload \(phase 'submit'\) lacks the field 'task_token'"
    ):
        load_handler("submit_job").handler(submit, lambda_context)
    assert list(aws.jobs) == []
    with pytest.raises(InvalidEvent, match=r"finalize payload \(mode 'job'\) lacks the field 'job_name'"):
        load_handler("finalize").handler({"mode": "job", "execution_arn": EXEC}, lambda_context)
