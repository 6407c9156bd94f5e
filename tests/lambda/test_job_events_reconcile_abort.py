"""Job events, reconcile and abort: every path that closes (or stops) a ledger row."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.events import handle_execution_end, handle_job_event, reconcile
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
    report = reconcile(ledger=ledger, sagemaker=boto3.client("sagemaker", region_name="us-east-1"), sfn=sfn)
    assert report.answered == [job] and report.abandoned == ["dtrain-never-created"]
    assert reconcile(ledger=ledger, sagemaker=boto3.client("sagemaker"), sfn=sfn).checked == 0


def test_abort_stops_the_running_job_of_the_execution(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any, load_handler: Any
) -> None:
    job = _submit(ledger, sfn, platform, spec)
    event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXEC, "status": "ABORTED"},
    }
    assert load_handler("abort_job").handler(event, None) == {"stopped": [job]}
    assert aws.job(job).status == "Stopped"
    again = handle_execution_end(event, ledger=ledger, sagemaker=boto3.client("sagemaker"))
    assert again == []  # the row is closed: nothing left to stop


def test_succeeded_executions_stop_nothing(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    job = _submit(ledger, sfn, platform, spec)
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXEC, "status": "SUCCEEDED"},
    }
    assert handle_execution_end(event, ledger=ledger, sagemaker=boto3.client("sagemaker")) == []
    assert aws.job(job).status == "InProgress"


def test_job_events_and_reconcile_handlers_run_against_moto(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any, load_handler: Any
) -> None:
    job = _submit(ledger, sfn, platform, spec, token="not-a-real-token")
    # moto's Step Functions knows no such token: the handler treats it as closed, not as an error.
    out = load_handler("job_events").handler(_event(job, "Completed"), None)
    assert out == {"job_name": job, "result": "closed: token had expired"}
    assert load_handler("reconcile").handler({}, None)["checked"] == 0
