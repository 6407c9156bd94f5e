"""`dtrain list` on a platform with teams: the executions of the caller's team's state machine.

A team's scientists may list, describe and read the history of their own state machine's
executions (ListExecutions on `stateMachine:<prefix>-<team>`) and nothing of the job ledger (its
rows hold task tokens), so the list is read from Step Functions: one row per execution, the
team's only, newest first, as ListExecutions returns them. `dtrain list --experiment` reads the
jobs of those executions from their histories (dtrain.remote.history_jobs) instead of the ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dtrain.remote.aws import translate_aws_errors
from dtrain.remote.context import RemoteContext
from dtrain.remote.errors import UsageError
from dtrain.remote.history_jobs import rows_from_history
from dtrain.remote.ledger_view import LedgerRow

# ListExecutions' statusFilter values (Step Functions API Reference, ListExecutions).
EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")


def team_executions(
    context: RemoteContext, *, status: str | None, since: datetime | None, limit: int | None
) -> list[dict[str, Any]]:
    """The team's executions, newest first: name, status, start and stop, the team."""
    kwargs: dict[str, Any] = {"stateMachineArn": context.platform.state_machine_arn}
    if status:
        if status.upper() not in EXECUTION_STATUSES:
            raise UsageError(
                f"--status: {status!r}: on a platform with teams dtrain list shows executions; "
                f"one of {', '.join(EXECUTION_STATUSES)}"
            )
        kwargs["statusFilter"] = status.upper()
    rows: list[dict[str, Any]] = []
    with translate_aws_errors(f"list the executions of {context.platform.state_machine_arn}"):
        while True:
            response = context.stepfunctions.list_executions(**kwargs)
            for execution in response.get("executions", []):
                started = execution.get("startDate")
                if since is not None and isinstance(started, datetime) and started < since:
                    continue
                rows.append(
                    {
                        "execution_name": execution["name"],
                        "status": execution["status"],
                        "started": started,
                        "stopped": execution.get("stopDate"),
                        "team": context.team,
                    }
                )
            token = response.get("nextToken")
            if not token or (limit and len(rows) >= limit):
                break
            kwargs["nextToken"] = token
    return rows[:limit] if limit else rows


def team_job_rows(context: RemoteContext, *, since: datetime | None, limit: int | None) -> list[LedgerRow]:
    """The jobs of the team's executions (the newest `limit` executions, newest first), each
    execution's read from its history: what `dtrain list --experiment` picks the experiment's
    runs from on a platform with teams, with states:ListExecutions and GetExecutionHistory of
    the team's state machine only (no ledger read). One history read per execution."""
    machine = context.platform.state_machine_arn
    # The team's state machine is named its job-name prefix (dtrain.team_names); an execution's
    # ARN is the state machine's with `execution` and the execution's name (Step Functions ARNs).
    prefix = machine.rsplit(":", 1)[1]
    head = machine.replace(":stateMachine:", ":execution:", 1)
    rows: list[LedgerRow] = []
    for execution in team_executions(context, status=None, since=since, limit=limit):
        rows += rows_from_history(context.stepfunctions, f"{head}:{execution['execution_name']}", prefix)
    return rows
