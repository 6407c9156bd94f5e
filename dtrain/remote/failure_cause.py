"""The cause of an execution that ended unexplained, read back from its history.

When the failure path itself fails (the DescribeFailure Lambda refused or erroring: an
infrastructure failure), the state machine ends in FailureUnexplained with
`Dtrain.FinalizeFailed: could not describe the failure` (stacks/orchestration/workflow.py), and
what went wrong is only in the execution history. `dtrain status` and `submit --wait` read it
there (states:GetExecutionHistory, granted by the submitter policy): the first failure of the
run, in the state that failed, with a Lambda error's JSON payload reduced to its message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dtrain.orchestration.finalize import plain_cause

UNEXPLAINED_ERROR = "Dtrain.FinalizeFailed"
# History event types that carry a failure (their `<type>EventDetails` hold error and cause);
# the GetExecutionHistory API reference lists them.
_FAILURE_EVENTS = (
    "TaskFailed",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "TaskTimedOut",
    "LambdaFunctionFailed",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
    "LambdaFunctionTimedOut",
    "MapRunFailed",
)
MAX_EVENTS = 2000  # a long sweep's history; the first failure is what is asked for


def _events(stepfunctions: Any, execution_arn: str) -> Iterator[Mapping[str, Any]]:
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    read = 0
    while read < MAX_EVENTS:
        page = stepfunctions.get_execution_history(**kwargs)
        for event in page.get("events", []):
            read += 1
            yield event
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def _state_names(events: list[Mapping[str, Any]]) -> dict[int, str]:
    names: dict[int, str] = {}
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if entered:
            names[int(event["id"])] = str(entered.get("name"))
    return names


def first_failure(stepfunctions: Any, execution_arn: str) -> str | None:
    """'<state>: <error>: <cause>' of the first failure in the history; None when none is there."""
    events = list(_events(stepfunctions, execution_arn))
    states = _state_names(events)
    for event in events:
        kind = str(event.get("type", ""))
        if kind not in _FAILURE_EVENTS:
            continue
        details = event.get(kind[0].lower() + kind[1:] + "EventDetails") or {}
        state = _entered_state(event, events, states)
        error = details.get("error") or kind
        cause = plain_cause(details.get("cause")) if details.get("cause") else ""
        return ": ".join(str(part) for part in (state, error, cause) if part)
    return None


def _entered_state(event: Mapping[str, Any], events: list[Mapping[str, Any]], states: dict[int, str]) -> str:
    """The state an event belongs to: follow previousEventId back to its StateEntered event."""
    by_id = {int(e["id"]): e for e in events}
    current: Mapping[str, Any] | None = event
    for _ in range(50):
        if current is None:
            return ""
        event_id = int(current.get("id", 0))
        if event_id in states:
            return states[event_id]
        current = by_id.get(int(current.get("previousEventId") or 0))
    return ""
