"""An execution's jobs read from its history, for a caller the job ledger refuses (a team's
scientists on a platform with teams: the ledger's rows hold task tokens, so their policy grants
no ledger read; issue 29).

Each Submit that creates a job (`process`, `submit`) is a TaskScheduled event whose parameters
hold the payload as the state machine resolved it (execution name and start time, sweep item,
redrive count, spec). Submit names the job from exactly these (SubmitRequest.job_name), so the
CLI derives the same names with the same code and describes the jobs in SageMaker: what `dtrain
status` shows needs states:GetExecutionHistory on the team's executions and
sagemaker:Describe* on its jobs, both in the team's policy.
"""

from __future__ import annotations

import json
from typing import Any

from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.payloads import SubmitPayload, parse_submit_event
from dtrain.orchestration.submit import SubmitRequest
from dtrain.remote.aws import translate_aws_errors
from dtrain.remote.ledger_view import LedgerRow

# The Submit phases that create a job (dtrain.orchestration.payloads.SUBMIT_PHASES).
_JOB_PHASES = ("process", "submit")


def rows_from_events(events: list[dict[str, Any]], job_name_prefix: str) -> list[LedgerRow]:
    """One row per job the execution's Submits created, oldest first (a retried Submit names the
    same job: one row)."""
    rows: dict[str, LedgerRow] = {}
    for event in events:
        if event.get("type") != "TaskScheduled":
            continue
        parameters = event.get("taskScheduledEventDetails", {}).get("parameters") or "{}"
        payload = json.loads(parameters).get("Payload")
        if not isinstance(payload, dict) or payload.get("phase") not in _JOB_PHASES:
            continue
        try:
            parsed = parse_submit_event(payload)
        except InvalidEvent:
            continue  # not a payload this CLI's Submit would have parsed either
        if not isinstance(parsed, SubmitPayload):
            continue
        request = SubmitRequest.from_payload(parsed)
        name = request.job_name(job_name_prefix)
        rows.setdefault(
            name,
            LedgerRow(
                job_name=name,
                status="Unknown",  # SageMaker's DescribeTrainingJob says (the ledger is out of reach)
                execution_arn=request.execution_arn,
                execution_name=request.execution_name,
                kind=request.kind,
            ),
        )
    return list(rows.values())


def rows_from_history(stepfunctions: Any, execution_arn: str, job_name_prefix: str) -> list[LedgerRow]:
    """rows_from_events over the execution's whole history (GetExecutionHistory, paged)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    with translate_aws_errors(f"read the history of {execution_arn}"):
        while True:
            page = stepfunctions.get_execution_history(**kwargs)
            events += page.get("events", [])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return rows_from_events(events, job_name_prefix)
