"""Issue 26 finding 8: a job SageMaker stopped at max_run (Stopped / MaxRuntimeExceeded) with a
saved model is a result: the execution succeeds and a deploy or transform hosts that model."""

from __future__ import annotations

from typing import Any

from dtrain.orchestration.events import handle_job_event
from dtrain.orchestration.hosting import HostingRequest
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.outcome import finalize_output

STOPPED_AT_MAX_RUN = {
    "TrainingJobName": "dtrain-j-1",
    "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/dtrain-j-1",
    "TrainingJobStatus": "Stopped",
    "SecondaryStatus": "MaxRuntimeExceeded",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://out/dtrain-j-1/output/model.tar.gz"},
}


def _row(ledger: Ledger) -> None:
    ledger.put_submitted(
        job_name="dtrain-j-1",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:sm:run-1",
        execution_name="run-1",
        task_token="tok",
        spec_digest="d",
        spec_summary="s",
    )


def test_a_job_stopped_at_max_run_with_its_model_answers_success(ledger: Ledger, sfn: Any) -> None:
    _row(ledger)
    event = {"detail-type": "SageMaker Training Job State Change", "detail": STOPPED_AT_MAX_RUN}
    assert handle_job_event(event, ledger=ledger, sfn=sfn) == "answered"
    assert [c[0] for c in sfn.calls] == ["send_task_success"]
    row = ledger.get("dtrain-j-1")
    assert row is not None and row.status == "Stopped" and "max_run" in (row.failure_reason or "")


def test_a_job_stopped_by_a_user_or_without_a_model_still_fails(ledger: Ledger, sfn: Any) -> None:
    _row(ledger)
    no_model = {**STOPPED_AT_MAX_RUN, "ModelArtifacts": {}}
    event = {"detail-type": "SageMaker Training Job State Change", "detail": no_model}
    assert handle_job_event(event, ledger=ledger, sfn=sfn) == "answered"
    assert sfn.calls[0][0] == "send_task_failure"
    assert sfn.calls[0][1]["error"] == "SageMaker.TrainingJobStopped"


def test_the_model_of_a_job_stopped_at_max_run_is_hosted() -> None:
    result = finalize_output(STOPPED_AT_MAX_RUN)
    assert result["status"] == "Stopped" and result["model_usable"] is True
    req = HostingRequest(spec={}, training=result, execution_arn="a", execution_name="n")
    assert req.trained_job() == ("dtrain-j-1", "s3://out/dtrain-j-1/output/model.tar.gz")
    sweep = HostingRequest(spec={}, training={"best": {**result}}, execution_arn="a", execution_name="n")
    assert sweep.trained_job()[0] == "dtrain-j-1"


def test_the_event_which_names_no_model_answers_success_and_finalize_checks_the_model(
    ledger: Ledger, sfn: Any
) -> None:
    """AWS's published training event has no ModelArtifacts field: the stop at max_run is
    answered from SecondaryStatus, and Finalize (DescribeTrainingJob) fails a run that saved
    no model."""
    import pytest

    from dtrain.orchestration.errors import JobStoppedWithoutModel
    from dtrain.orchestration.finalize import finalize_job

    _row(ledger)
    detail = {k: v for k, v in STOPPED_AT_MAX_RUN.items() if k != "ModelArtifacts"}
    event = {"detail-type": "SageMaker Training Job State Change", "detail": detail}
    assert handle_job_event(event, ledger=ledger, sfn=sfn) == "answered"
    assert sfn.calls[0][0] == "send_task_success"

    class Described:
        def __init__(self, job: dict[str, Any]) -> None:
            self.job = job

        def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
            return self.job

    kept = finalize_job(Described(STOPPED_AT_MAX_RUN), "dtrain-j-1", region="us-east-1", execution_arn="a")
    assert kept["result"]["model_usable"] is True
    with pytest.raises(JobStoppedWithoutModel, match="saved no model"):
        finalize_job(Described(detail), "dtrain-j-1", region="us-east-1", execution_arn="a")
