"""Job events, reconcile and abort: every path that closes (or stops) a ledger row."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.events import (
    DEFAULT_SUBMIT_GRACE_S,
    handle_execution_end,
    handle_job_event,
    reconcile,
)
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.submit import SubmitRequest, Submitter, sagemaker_client

EXEC = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1"


def _submit(ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], token: str = "tok") -> str:
    submitter = Submitter(
        ledger=ledger,
        sagemaker=sagemaker_client("us-east-1"),
        sfn=sfn,
        platform=platform,
        region="us-east-1",
        backoff=BackoffPolicy(attempts=2, base_s=0.01, cap_s=0.01),
    )
    req = SubmitRequest(spec=spec, task_token=token, execution_arn=EXEC, execution_name="run-1")
    return submitter.submit(req).job_name


def _event(job: str, status: str, reason: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "TrainingJobName": job,
        "TrainingJobStatus": status,
        "TrainingJobArn": f"arn:{job}",
    }
    if reason:
        detail["FailureReason"] = reason
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Training Job State Change", "detail": detail}


def test_completed_event_answers_success_once_and_closes_the_row(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any]
) -> None:
    job = _submit(ledger, sfn, platform, spec)
    assert handle_job_event(_event(job, "Completed"), ledger=ledger, sfn=sfn) == "answered"
    assert (
        handle_job_event(_event(job, "Completed"), ledger=ledger, sfn=sfn) == "ignored: token already closed"
    )
    assert [c[0] for c in sfn.calls] == ["send_task_success"]
    row = ledger.get(job)
    assert row is not None and row.token_state == "CLOSED" and row.expires_at and not row.task_token


def test_failed_event_sends_the_failure_reason(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any]
) -> None:
    job = _submit(ledger, sfn, platform, spec)
    handle_job_event(_event(job, "Failed", "AlgorithmError: boom"), ledger=ledger, sfn=sfn)
    name, kwargs = sfn.calls[-1]
    assert name == "send_task_failure"
    assert (kwargs["error"], kwargs["cause"]) == ("SageMaker.TrainingJobFailed", "AlgorithmError: boom")
    row = ledger.get(job)
    assert row is not None and row.failure_reason == "AlgorithmError: boom"


def test_an_already_timed_out_token_is_not_an_error(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any]
) -> None:
    job = _submit(ledger, sfn, platform, spec, token="expired")
    sfn.closed.add("expired")
    assert handle_job_event(_event(job, "Stopped"), ledger=ledger, sfn=sfn) == "closed: token had expired"
    row = ledger.get(job)
    assert row is not None and row.token_state == "CLOSED" and row.status == "Stopped"


def test_events_of_unknown_jobs_and_non_terminal_statuses_are_ignored(ledger: Ledger, sfn: Any) -> None:
    assert (
        handle_job_event(_event("dtrain-other", "Completed"), ledger=ledger, sfn=sfn)
        == "ignored: not in the ledger"
    )
    assert (
        handle_job_event(_event("dtrain-other", "InProgress"), ledger=ledger, sfn=sfn)
        == "ignored: not terminal"
    )
    with pytest.raises(InvalidEvent):
        handle_job_event({"detail-type": "Scheduled Event"}, ledger=ledger, sfn=sfn)


def test_reconcile_closes_a_lost_event_and_abandons_a_dead_submission(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    job = _submit(ledger, sfn, platform, spec)
    aws.complete(job, emit=False)
    ledger.put_submitted(
        job_name="dtrain-never-created",
        execution_arn=EXEC + "-dead",
        execution_name="dead",
        task_token="t2",
        spec_digest="d",
        spec_summary="{}",
    )
    sfn.execution_status[EXEC + "-dead"] = "FAILED"
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    # Within Submit's time-out the row may still get its job: left alone.
    report = reconcile(ledger=ledger, sagemaker=sagemaker, sfn=sfn)
    assert report.answered == [job] and report.abandoned == []
    later = time.time() + DEFAULT_SUBMIT_GRACE_S + 1
    report = reconcile(ledger=ledger, sagemaker=sagemaker, sfn=sfn, now=later)
    assert report.abandoned == ["dtrain-never-created"]
    assert reconcile(ledger=ledger, sagemaker=sagemaker, sfn=sfn, now=later).checked == 0


def test_abort_stops_the_running_job_of_the_execution(
    ledger: Ledger,
    sfn: Any,
    platform: Any,
    spec: dict[str, Any],
    aws: Any,
    load_handler: Any,
    lambda_context: Any,
) -> None:
    job = _submit(ledger, sfn, platform, spec)
    event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXEC, "status": "ABORTED"},
    }
    assert load_handler("abort_job").handler(event, lambda_context) == {"stopped": [job]}
    assert aws.job(job).status == "Stopped"
    again = handle_execution_end(event, ledger=ledger, sagemaker=boto3.client("sagemaker"))
    assert again == []  # the row is closed: nothing left to stop


def _ended(status: str, arn: str = EXEC) -> dict[str, Any]:
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": arn, "status": status},
    }


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"])
def test_every_execution_end_stops_a_job_still_running(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any, status: str
) -> None:
    """Issue 19 item 2: FAILED (a job created before Submit errored) was not handled;
    SUCCEEDED covers a sweep item whose Submit failed after creating its job."""
    job = _submit(ledger, sfn, platform, spec)
    assert handle_execution_end(_ended(status), ledger=ledger, sagemaker=boto3.client("sagemaker")) == [job]
    assert aws.job(job).status == "Stopped"


def test_finished_jobs_are_left_alone_when_an_execution_ends(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    job = _submit(ledger, sfn, platform, spec)
    handle_job_event(_event(job, "Completed"), ledger=ledger, sfn=sfn)
    aws.complete(job)
    assert handle_execution_end(_ended("SUCCEEDED"), ledger=ledger, sagemaker=boto3.client("sagemaker")) == []


def test_reconcile_stops_a_job_whose_execution_ended_without_an_event(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """The backstop for a lost "Execution Status Change" event (they are best-effort)."""
    job = _submit(ledger, sfn, platform, spec)
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    assert reconcile(ledger=ledger, sagemaker=sagemaker, sfn=sfn).stopped == []  # still RUNNING
    sfn.execution_status[EXEC] = "ABORTED"
    report = reconcile(ledger=ledger, sagemaker=sagemaker, sfn=sfn)
    assert report.stopped == [job] and aws.job(job).status == "Stopped"
    row = ledger.get(job)
    assert row is not None and row.token_state == "CLOSED"
    # The Stopped event was emitted by the backend; reconcile records it if the event is lost.
    reconcile(ledger=ledger, sagemaker=sagemaker, sfn=sfn)
    row = ledger.get(job)
    assert row is not None and row.status == "Stopped"
    assert reconcile(ledger=ledger, sagemaker=sagemaker, sfn=sfn).checked == 0


def test_submit_racing_an_abort_stops_the_job_it_created(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """Abort came while Submit was in its throttle back-off: the abort saw a "Submitting" row
    and no job; Submit then created the job, sees the execution ended and stops it."""
    submitter = Submitter(
        ledger=ledger,
        sagemaker=sagemaker_client("us-east-1"),
        sfn=sfn,
        platform=platform,
        region="us-east-1",
        backoff=BackoffPolicy(attempts=2, base_s=0.01, cap_s=0.01),
    )
    req = SubmitRequest(spec=spec, task_token="tok", execution_arn=EXEC, execution_name="run-1")
    original_create = submitter._create

    def create_after_abort(r: SubmitRequest, job_name: str) -> None:
        # The abort event is handled between the ledger write and CreateTrainingJob.
        sfn.execution_status[EXEC] = "ABORTED"
        assert (
            handle_execution_end(_ended("ABORTED"), ledger=ledger, sagemaker=boto3.client("sagemaker")) == []
        )
        original_create(r, job_name)

    submitter._create = create_after_abort  # type: ignore[method-assign]
    job = submitter.submit(req).job_name
    assert aws.job(job).status == "Stopped"
    row = ledger.get(job)
    assert row is not None and row.token_state == "CLOSED" and row.status in ("Stopping", "Stopped")


def test_job_events_and_reconcile_handlers_run_against_moto(
    ledger: Ledger,
    sfn: Any,
    platform: Any,
    spec: dict[str, Any],
    aws: Any,
    load_handler: Any,
    lambda_context: Any,
) -> None:
    job = _submit(ledger, sfn, platform, spec, token="not-a-real-token")
    # moto's Step Functions knows no such token: the handler treats it as closed, not as an error.
    out = load_handler("job_events").handler(_event(job, "Completed"), lambda_context)
    assert out == {"job_name": job, "result": "closed: token had expired"}
    assert load_handler("reconcile").handler({}, lambda_context)["checked"] == 0
