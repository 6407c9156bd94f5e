"""Job-events, reconcile and abort: the three ways a waiting execution hears about its job."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from dtrain.orchestration import observability
from dtrain.orchestration.job_kinds import ENDPOINT, KINDS, TRAINING, job_kind
from dtrain.orchestration.kinds import delete_abandoned_endpoint, describe_row, row_outcome, stop_row
from dtrain.orchestration.ledger import ABANDONED, STOPPING, SUBMITTING, Ledger, LedgerRow
from dtrain.orchestration.outcome import (
    TERMINAL_STATUSES,
    close_row,
    outcome_from_event,
)
from dtrain.orchestration.payloads import (
    ExecutionStatusChange,
    SageMakerStateChange,
    parse_execution_status_change,
    parse_sagemaker_state_change,
)

log = logging.getLogger(__name__)

JOB_STATE_CHANGE = KINDS[TRAINING].event_detail_type


def handle_job_event(event: Mapping[str, Any] | SageMakerStateChange, *, ledger: Ledger, sfn: Any) -> str:
    """One SageMaker state-change event (a job's, or an endpoint's) -> the token answered.
    Returns what happened."""
    change = event if isinstance(event, SageMakerStateChange) else parse_sagemaker_state_change(event)
    if change.job_kind.kind == ENDPOINT:
        row = _endpoint_row_for_event(change.detail, ledger)
        if row is None:
            return "ignored: not in the ledger"
        outcome = row_outcome(row, change.detail)
    else:
        outcome = outcome_from_event(change.detail, change.job_kind.kind)
        row = ledger.get(outcome.job_name)
    if outcome.status not in TERMINAL_STATUSES:
        return "ignored: not terminal"
    if row is None:
        return "ignored: not in the ledger"
    observability.correlate(
        job_name=row.job_name, execution_name=row.execution_name, item_index=row.item_index
    )
    if row.kind == ENDPOINT and row.status == STOPPING:
        # An endpoint whose execution was aborted while it was Creating: reconcile deletes it
        # now that DeleteEndpoint is accepted; its row must stay "Stopping" until then.
        return "ignored: endpoint left to reconcile to delete"
    if not row.is_open:
        # A duplicate (EventBridge delivers at least once) or answered by reconcile already.
        if row.status != outcome.status:
            ledger.set_status(row.job_name, outcome.status)
        return "ignored: token already closed"
    answered = close_row(sfn, ledger, row, outcome)
    return "answered" if answered else "closed: token had expired"


def _endpoint_row_for_event(detail: Mapping[str, Any], ledger: Ledger) -> LedgerRow | None:
    """An endpoint's row is keyed by the config the execution deployed, which the event names
    unless an update rolled back (then the endpoint's name finds the open row waiting on it)."""
    config = str(detail.get("EndpointConfigName", ""))
    row = ledger.get(config) if config else None
    if row is not None and row.kind == ENDPOINT:
        return row
    endpoint = str(detail.get("EndpointName", ""))
    waiting = [r for r in ledger.open_rows() if r.kind == ENDPOINT and r.resource_name == endpoint]
    return waiting[-1] if waiting else None


@dataclass
class ReconcileReport:
    checked: int = 0
    answered: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "stopped": self.stopped,
        }


# Every way an execution ends. Its jobs must not outlive it: the "Execution Status Change"
# event of each (best-effort, https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html)
# stops them at once, and reconcile stops what a lost event left running.
ENDED_STATUSES = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
# Submit's Lambda times out after this long (the stack passes the real value); a row still
# "Submitting" after it, of an execution that ended, is one whose job will never be created.
DEFAULT_SUBMIT_GRACE_S = 180


def execution_running(sfn: Any, execution_arn: str) -> bool:
    try:
        return str(sfn.describe_execution(executionArn=execution_arn)["status"]) == "RUNNING"
    except ClientError as err:
        if err.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False
        raise


def stop_job(sagemaker: Any, job_name: str, kind: str = TRAINING) -> bool:
    """StopTrainingJob (StopProcessingJob, ...); False when there is nothing to stop."""
    return job_kind(kind).stop_job(sagemaker, job_name)


def _job_may_run(row: LedgerRow) -> bool:
    return row.status not in TERMINAL_STATUSES and row.status != ABANDONED


def _age_s(row: LedgerRow, now: float) -> float:
    try:
        updated = datetime.strptime(row.updated_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return float("inf")
    return now - updated.timestamp()


def reconcile(
    *,
    ledger: Ledger,
    sagemaker: Any,
    sfn: Any,
    now: float | None = None,
    submit_grace_s: float = DEFAULT_SUBMIT_GRACE_S,
) -> ReconcileReport:
    """The backstop: no token left open by a lost job event, no job outliving its execution.

    - a job that ended while its token is open (a lost job event): the token is answered;
    - a job still running while its execution is not RUNNING (a lost or failed execution
      event, a Submit that created the job after an abort): the job is stopped, the row closed;
    - a row still "Submitting" with no job, of an execution that ended, once Submit cannot be
      alive any more: closed as "Abandoned".
    """
    report = ReconcileReport()
    clock = now if now is not None else time.time()
    running: dict[str, bool] = {}

    def is_running(arn: str) -> bool:
        if arn not in running:
            running[arn] = execution_running(sfn, arn)
        return running[arn]

    for row in ledger.active_rows():
        report.checked += 1
        job = describe_row(sagemaker, row)
        if row.kind == ENDPOINT and row.status == STOPPING:
            _delete_abandoned(sagemaker, ledger, row, job, report)
            continue
        if job is None:
            if (
                row.status == SUBMITTING
                and _age_s(row, clock) > submit_grace_s
                and not is_running(row.execution_arn)
            ):
                if not (
                    row.is_open and ledger.mark_closed(row.job_name, ABANDONED, task_token=row.task_token)
                ):
                    ledger.set_status(row.job_name, ABANDONED)
                report.abandoned.append(row.job_name)
            continue
        outcome = row_outcome(row, job)
        if outcome.status in TERMINAL_STATUSES:
            if row.is_open:
                if close_row(sfn, ledger, row, outcome):
                    report.answered.append(row.job_name)
            elif row.status != outcome.status:
                ledger.set_status(row.job_name, outcome.status)
            continue
        if not is_running(row.execution_arn):
            _outlived_its_execution(sagemaker, ledger, row, job, outcome.status, report)
        elif outcome.status != row.status:
            ledger.set_status(row.job_name, outcome.status, only_if_open=True)
    return report


def _delete_abandoned(
    sagemaker: Any, ledger: Ledger, row: LedgerRow, desc: dict[str, Any] | None, report: ReconcileReport
) -> None:
    """The endpoint an abort could not delete while it was Creating (dtrain.orchestration.kinds)."""
    state = delete_abandoned_endpoint(sagemaker, row, desc)
    if state == "gone":
        ledger.set_status(row.job_name, "Stopped")
    elif state == "deleted":
        report.stopped.append(row.job_name)


def _outlived_its_execution(
    sagemaker: Any, ledger: Ledger, row: LedgerRow, job: dict[str, Any], status: str, report: ReconcileReport
) -> None:
    """A row whose resource is not done while its execution is: stop the job (or mark the endpoint
    this execution is creating for deletion); an endpoint update is left to finish."""
    if status == "InProgress" and stop_row(sagemaker, row, job):
        report.stopped.append(row.job_name)
    elif row.kind == ENDPOINT:
        # An update in progress: no call cancels it, and the endpoint served before this
        # execution (kinds.py). Not "Stopping" (that deletes the endpoint once it is
        # InService): the row closes and follows the update to its end or rollback.
        _settle_update(ledger, row, status)
        return
    _record_stopping(ledger, row, "execution no longer running")


def _settle_update(ledger: Ledger, row: LedgerRow, status: str) -> None:
    """An endpoint update whose execution ended: nobody waits on the token any more."""
    if row.is_open and ledger.mark_closed(
        row.job_name, status, task_token=row.task_token, failure_reason="execution no longer running"
    ):
        return
    if row.status != status:
        ledger.set_status(row.job_name, status)


def _record_stopping(ledger: Ledger, row: LedgerRow, reason: str) -> None:
    """The row of a job being stopped: token closed (nobody waits on it), status Stopping
    until the job's Stopped event (or reconcile) records the final one."""
    if row.is_open and ledger.mark_closed(
        row.job_name, STOPPING, task_token=row.task_token, failure_reason=reason
    ):
        return
    ledger.set_status(row.job_name, STOPPING)


def handle_execution_end(
    event: Mapping[str, Any] | ExecutionStatusChange, *, ledger: Ledger, sagemaker: Any
) -> list[str]:
    """An execution ended (any of ENDED_STATUSES): stop every job of it that may still run.

    A row still "Submitting" keeps that status with its token closed: its job may yet be
    created by a Submit in back-off, which then sees the execution ended and stops the job
    itself; reconcile watches the row until the job is stopped or the row abandoned.
    """
    change = event if isinstance(event, ExecutionStatusChange) else parse_execution_status_change(event)
    status = change.status
    if status not in ENDED_STATUSES:
        return []
    stopped: list[str] = []
    for row in ledger.find_by_execution(change.execution_arn):
        if not _job_may_run(row):
            continue
        if stop_row(sagemaker, row):
            stopped.append(row.job_name)
            _record_stopping(ledger, row, f"execution {status}")
        elif row.is_open:
            ledger.mark_closed(
                row.job_name, row.status, task_token=row.task_token, failure_reason=f"execution {status}"
            )
    return stopped
