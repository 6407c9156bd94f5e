"""Job-events, reconcile and abort: the three ways a waiting execution hears about its job."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.ledger import SUBMITTING, Ledger
from dtrain.orchestration.outcome import (
    TERMINAL_STATUSES,
    close_row,
    outcome_from_describe,
    outcome_from_event,
)

log = logging.getLogger(__name__)

JOB_STATE_CHANGE = "SageMaker Training Job State Change"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"


def handle_job_event(event: Mapping[str, Any], *, ledger: Ledger, sfn: Any) -> str:
    """One SageMaker state-change event -> the token answered. Returns what happened."""
    if event.get("detail-type") != JOB_STATE_CHANGE or "detail" not in event:
        raise InvalidEvent(f"not a {JOB_STATE_CHANGE} event: {event.get('detail-type')!r}")
    outcome = outcome_from_event(event["detail"])
    if outcome.status not in TERMINAL_STATUSES:
        return "ignored: not terminal"
    row = ledger.get(outcome.job_name)
    if row is None:
        return "ignored: not in the ledger"
    if not row.is_open:
        # A duplicate (EventBridge delivers at least once) or answered by reconcile already.
        if row.status != outcome.status:
            ledger.set_status(row.job_name, outcome.status)
        return "ignored: token already closed"
    answered = close_row(sfn, ledger, row, outcome)
    return "answered" if answered else "closed: token had expired"


@dataclass
class ReconcileReport:
    checked: int = 0
    answered: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "answered": self.answered, "abandoned": self.abandoned}


def _execution_running(sfn: Any, execution_arn: str) -> bool:
    try:
        return str(sfn.describe_execution(executionArn=execution_arn)["status"]) == "RUNNING"
    except ClientError as err:
        if err.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False
        raise


def reconcile(*, ledger: Ledger, sagemaker: Any, sfn: Any) -> ReconcileReport:
    """Close open tokens whose job ended without its event reaching us (a lost event).

    Rows still "Submitting" whose execution stopped running (the Submit Lambda died before
    CreateTrainingJob and the execution gave up) are closed as "Abandoned".
    """
    report = ReconcileReport()
    for row in ledger.open_rows():
        report.checked += 1
        try:
            job = sagemaker.describe_training_job(TrainingJobName=row.job_name)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ValidationException":
                raise
            job = None
        if job is None:
            if row.status == SUBMITTING and not _execution_running(sfn, row.execution_arn):
                ledger.mark_closed(row.job_name, "Abandoned", task_token=row.task_token)
                report.abandoned.append(row.job_name)
            continue
        outcome = outcome_from_describe(job)
        if outcome.status in TERMINAL_STATUSES:
            if close_row(sfn, ledger, row, outcome):
                report.answered.append(row.job_name)
        elif outcome.status != row.status:
            ledger.set_status(row.job_name, outcome.status, only_if_open=True)
    return report


def handle_execution_end(event: Mapping[str, Any], *, ledger: Ledger, sagemaker: Any) -> list[str]:
    """An execution ABORTED or TIMED_OUT: stop every job of it that may still run."""
    detail = event.get("detail") or {}
    execution_arn = detail.get("executionArn")
    if event.get("detail-type") != EXECUTION_STATUS_CHANGE or not execution_arn:
        raise InvalidEvent(f"not a {EXECUTION_STATUS_CHANGE} event: {event.get('detail-type')!r}")
    if detail.get("status") not in ("ABORTED", "TIMED_OUT"):
        return []
    stopped: list[str] = []
    for row in ledger.find_by_execution(str(execution_arn)):
        if row.status in TERMINAL_STATUSES and not row.is_open:
            continue
        try:
            sagemaker.stop_training_job(TrainingJobName=row.job_name)
            stopped.append(row.job_name)
        except ClientError as err:
            # Already finished or never created: nothing to stop.
            if err.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
                raise
        # The execution no longer waits: close the token so reconcile leaves the row alone.
        ledger.mark_closed(
            row.job_name,
            "Stopping" if row.job_name in stopped else row.status,
            failure_reason=f"execution {detail.get('status')}",
        )
    return stopped
