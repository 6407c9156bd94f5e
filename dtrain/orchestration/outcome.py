"""What a finished job means for its execution: callback and Finalize output."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from dtrain.orchestration import observability
from dtrain.orchestration.job_kinds import KINDS, TRAINING, job_kind
from dtrain.orchestration.ledger import Ledger, LedgerRow
from dtrain.orchestration.observability import Metric

log = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
# A training job SageMaker ended at its max_run: Stopped, SecondaryStatus MaxRuntimeExceeded.
# "SageMaker sends the algorithm the SIGTERM signal, which delays job termination for 120
# seconds. Algorithms can use this 120-second window to save the model artifacts, so the
# results of training are not lost. ... this intermediate data is a valid model artifact. You
# can use it to create a model with CreateModel." (StoppingCondition, SageMaker API reference)
MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"


def stopped_at_max_run(job: Mapping[str, Any]) -> bool:
    return (
        str(job.get("TrainingJobStatus", "")) == "Stopped"
        and str(job.get("SecondaryStatus", "")) == MAX_RUNTIME_EXCEEDED
    )


def kept_model_at_max_run(job: Mapping[str, Any]) -> bool:
    """A training job stopped at max_run whose model SageMaker saved: a result, not a failure
    (from DescribeTrainingJob, which names the model's S3 URI)."""
    return stopped_at_max_run(job) and bool((job.get("ModelArtifacts") or {}).get("S3ModelArtifacts"))


# Step Functions error names the Submit task fails with; Catch turns them into plain words.
JOB_FAILED_ERROR = KINDS[TRAINING].failed_error
JOB_STOPPED_ERROR = KINDS[TRAINING].stopped_error
# Answers to SendTask* that mean "already answered / no longer waiting": not errors.
CLOSED_TOKEN_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


@dataclass(frozen=True)
class JobOutcome:
    job_name: str
    status: str
    job_arn: str = ""
    failure_reason: str | None = None
    kind: str = TRAINING
    kept_model: bool = False  # stopped at max_run with its model saved (kept_model_at_max_run)

    @property
    def succeeded(self) -> bool:
        return self.status == "Completed" or self.kept_model

    def error(self) -> str:
        k = job_kind(self.kind)
        return k.stopped_error if self.status == "Stopped" else k.failed_error

    def cause(self) -> str:
        noun = job_kind(self.kind).noun
        if self.status == "Stopped":
            reason = f": {self.failure_reason}" if self.failure_reason else ""
            return f"{noun} {self.job_name} was stopped{reason}"
        return self.failure_reason or f"{noun} {self.job_name} failed without a FailureReason"

    def task_output(self) -> dict[str, str]:
        return {"job_name": self.job_name, "job_arn": self.job_arn, "status": self.status}


def outcome_from_describe(
    job: Mapping[str, Any], kind: str = TRAINING, *, from_event: bool = False
) -> JobOutcome:
    """From a Describe*Job answer, or the `detail` of the kind's state-change event (the same
    fields: name, status, ARN, FailureReason).

    The training event carries no ModelArtifacts (AWS's published sample has none): a stop at
    max_run answers success from the event, and Finalize, which describes the job, fails the
    execution when no model was saved (finalize.finalize_job)."""
    k = job_kind(kind)
    kept = k.kind == TRAINING and (
        kept_model_at_max_run(job) or (from_event and stopped_at_max_run(job) and "ModelArtifacts" not in job)
    )
    return JobOutcome(
        job_name=str(job[k.name_key]),
        status=str(job[k.status_key]),
        job_arn=str(job.get(k.arn_key, "")),
        failure_reason=(
            "stopped at max_run (MaxRuntimeExceeded); the model it saved is kept"
            if kept
            else job.get("FailureReason") or None
        ),
        kind=k.kind,
        kept_model=kept,
    )


def outcome_from_event(detail: Mapping[str, Any], kind: str = TRAINING) -> JobOutcome:
    """From the `detail` of a SageMaker Training (or Processing) Job State Change event."""
    return outcome_from_describe(detail, kind, from_event=True)


def answer_token(sfn: Any, token: str, outcome: JobOutcome) -> bool:
    """SendTaskSuccess/Failure for a terminal job; False when the token was already closed."""
    try:
        if outcome.succeeded:
            sfn.send_task_success(taskToken=token, output=json.dumps(outcome.task_output()))
        else:
            sfn.send_task_failure(taskToken=token, error=outcome.error(), cause=outcome.cause()[:32768])
    except ClientError as err:
        if err.response["Error"]["Code"] in CLOSED_TOKEN_CODES:
            log.info("token for %s already closed (%s)", outcome.job_name, err.response["Error"]["Code"])
            return False
        raise
    observability.count(Metric.TOKENS_ANSWERED)
    return True


def close_row(sfn: Any, ledger: Ledger, row: LedgerRow, outcome: JobOutcome) -> bool:
    """Answer the row's open token with the job's outcome and close the row.

    Answer first, close second: if the Lambda dies in between, the next duplicate event or
    reconcile answers again and gets TaskTimedOut/InvalidToken, which is harmless; the other
    order could close a row whose execution never heard back.
    Returns True when this call answered the token.
    """
    if not row.is_open or outcome.status not in TERMINAL_STATUSES:
        if outcome.status != row.status and outcome.status in TERMINAL_STATUSES:
            ledger.set_status(row.job_name, outcome.status)
        return False
    answered = answer_token(sfn, row.task_token, outcome)
    ledger.mark_closed(
        row.job_name, outcome.status, task_token=row.task_token, failure_reason=outcome.failure_reason
    )
    return answered


# -- Finalize --------------------------------------------------------------------------
def _seconds(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def spot_savings_percent(training_s: int | None, billable_s: int | None) -> float | None:
    """AWS's definition: (1 - BillableTimeInSeconds / TrainingTimeInSeconds) * 100."""
    if not training_s or billable_s is None:
        return None
    return round((1 - billable_s / training_s) * 100, 1)


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if value is not None else None


def finalize_output(job: Mapping[str, Any]) -> dict[str, Any]:
    """The execution's result for one finished job, from DescribeTrainingJob."""
    training_s = _seconds(job.get("TrainingTimeInSeconds"))
    billable_s = _seconds(job.get("BillableTimeInSeconds"))
    metrics = {
        str(m["MetricName"]): float(m["Value"])
        for m in job.get("FinalMetricDataList", [])
        if "MetricName" in m and "Value" in m
    }
    transitions = [
        {
            "status": t.get("Status"),
            "start": _iso(t.get("StartTime")),
            "end": _iso(t.get("EndTime")),
            "message": t.get("StatusMessage"),
        }
        for t in job.get("SecondaryStatusTransitions", [])
    ]
    return {
        "job_name": job["TrainingJobName"],
        "job_arn": job.get("TrainingJobArn", ""),
        "status": job["TrainingJobStatus"],
        # True for a job stopped at max_run whose model is saved: hosted and ranked like a
        # completed one (kept_model_at_max_run).
        "model_usable": job["TrainingJobStatus"] == "Completed" or kept_model_at_max_run(job),
        "model_artifact": (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
        "final_metrics": metrics,
        "training_seconds": training_s,
        "billable_seconds": billable_s,
        "spot": bool(job.get("EnableManagedSpotTraining")),
        "spot_savings_percent": spot_savings_percent(training_s, billable_s)
        if job.get("EnableManagedSpotTraining")
        else None,
        "secondary_status_transitions": transitions,
        "failure_reason": job.get("FailureReason"),
    }


def console_link(region: str, execution_arn: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def success_message(result: Mapping[str, Any], *, region: str, execution_arn: str) -> dict[str, str]:
    metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(result.get("final_metrics", {}).items()))
    lines = [
        f"Training job {result['job_name']} {result['status']}.",
        f"Model: {result.get('model_artifact') or '-'}",
        f"Metrics: {metrics or '-'}",
        f"Training/billable seconds: {result.get('training_seconds')}/{result.get('billable_seconds')}",
        f"Execution: {console_link(region, execution_arn)}",
    ]
    return {"subject": f"dtrain: {result['job_name']} {result['status']}"[:99], "message": "\n".join(lines)}


def failure_message(
    error: str, cause: str, *, region: str, execution_arn: str, execution_name: str
) -> dict[str, str]:
    lines = [
        f"Execution {execution_name} FAILED.",
        f"Error: {error}",
        f"Cause: {cause}",
        f"Execution: {console_link(region, execution_arn)}",
    ]
    return {"subject": f"dtrain: {execution_name} FAILED"[:99], "message": "\n".join(lines)}
