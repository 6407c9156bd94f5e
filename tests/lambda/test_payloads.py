"""The Submit and Finalize Lambdas parse their event into one typed payload per phase or mode
(dtrain.orchestration.payloads): a missing or wrongly typed field is refused with InvalidEvent,
which names the field and the phase or mode; an absent optional field takes its default."""

from __future__ import annotations

import dataclasses
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
    parse_finalize_event,
    parse_submit_event,
)
from dtrain.orchestration.submit import SubmitRequest

EXEC = "arn:aws:states:us-east-1:123456789012:execution:dtrain:run-1"
# A complete event of each phase and mode, as the state machine sends it.
FULL: dict[str, dict[str, Any]] = {
    "prepare": {"phase": "prepare", "spec": {"job_name": "j"}},
    "submit": {
        "phase": "submit",
        "spec": {"job_name": "j"},
        "task_token": "tok",
        "execution_arn": EXEC,
        "execution_name": "run-1",
        "retry_count": 1,
        "execution_start": "2026-11-28T01:00:00.000Z",
        "processing": {"job_name": "p"},
        "item_index": 2,
        "overrides": {"hyperparameters": {"lr": 0.1}},
        "is_sweep_item": True,
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
}


def _parse(event: dict[str, Any], case: str | None = None) -> Any:
    """Parsed by the Lambda that receives the case's event (Submit: a phase; Finalize: a mode)."""
    submit = "phase" in FULL[case] if case else "phase" in event
    return parse_submit_event(event) if submit else parse_finalize_event(event)


def test_every_phase_and_mode_has_a_full_event_here() -> None:
    """So the tests below cover every class the Lambdas parse."""
    classes = {cls for _, by_value in BY_LAMBDA.values() for cls in by_value.values()}
    assert {type(_parse(event)) for event in FULL.values()} == classes


@pytest.mark.parametrize(
    ("case", "field"),
    [(case, name) for case, event in FULL.items() for name in type(_parse(event)).required()],
)
def test_a_missing_required_field_is_refused_naming_it_and_the_phase_or_mode(case: str, field: str) -> None:
    event = {k: v for k, v in FULL[case].items() if k != field}
    key = "phase" if "phase" in FULL[case] else "mode"
    if field == key:
        with pytest.raises(InvalidEvent, match=f"unknown {key} None"):
            _parse(event, case)
        return
    with pytest.raises(InvalidEvent, match=rf"\({key} '{case}'\) lacks the field '{field}'"):
        _parse(event, case)
    # Null is as absent (a JsonPath to a missing object yields null).
    with pytest.raises(InvalidEvent, match=f"lacks the field '{field}'"):
        _parse(FULL[case] | {field: None})


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
    ],
)
def test_a_wrongly_typed_field_is_refused_naming_it_and_its_type(
    case: str, field: str, value: Any, message: str
) -> None:
    key = "phase" if "phase" in FULL[case] else "mode"
    with pytest.raises(InvalidEvent, match=rf"\({key} '{case}'\): {message}$"):
        _parse(FULL[case] | {field: value})


def test_an_unknown_phase_or_mode_and_a_non_object_event_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="unknown phase 'train'; expected prepare, process, submit"):
        parse_submit_event({"phase": "train"})
    with pytest.raises(InvalidEvent, match="unknown mode 'all'; expected job, item, failure, sweep"):
        parse_finalize_event({"mode": "all"})
    with pytest.raises(InvalidEvent, match="finalize event is list, expected an object"):
        parse_finalize_event([])  # type: ignore[arg-type]


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
    submit = parse_submit_event(FULL["submit"])
    assert {f.name: getattr(submit, f.name) for f in dataclasses.fields(submit)} == FULL["submit"]
    assert isinstance(submit, SubmitPayload)
    request = SubmitRequest.from_payload(submit)
    assert (request.kind, request.item_index, request.processing) == (TRAINING, 2, {"job_name": "p"})
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
