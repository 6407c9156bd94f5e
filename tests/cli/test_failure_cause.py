"""Issue 26 finding 17: an execution whose failure path failed too (FailureUnexplained) showed
only `Dtrain.FinalizeFailed: could not describe the failure`; `dtrain status` and
`submit --wait` now print the first failure from the execution history."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from dtrain.remote.job_lookup import describe_execution

ARN = "arn:aws:states:us-east-1:123456789012:execution:dtrain:run-1"


class HistorySfn:
    """DescribeExecution and a paged GetExecutionHistory, shaped as the API reference shows."""

    def __init__(self, events: list[dict[str, Any]], page: int = 2) -> None:
        self.events = events
        self.page = page

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {
            "executionArn": executionArn,
            "status": "FAILED",
            "error": "Dtrain.FinalizeFailed",
            "cause": "could not describe the failure",
        }

    def get_execution_history(
        self, executionArn: str, maxResults: int, nextToken: str = "0"
    ) -> dict[str, Any]:
        start = int(nextToken)
        out: dict[str, Any] = {"events": self.events[start : start + self.page]}
        if start + self.page < len(self.events):
            out["nextToken"] = str(start + self.page)
        return out


def _history() -> list[dict[str, Any]]:
    lambda_error = {
        "errorMessage": "An error occurred (AccessDeniedException) when calling the CreateTrainingJob"
        " operation: not authorized",
        "errorType": "ClientError",
    }
    return [
        {"id": 1, "type": "ExecutionStarted"},
        {
            "id": 2,
            "previousEventId": 1,
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": "Submit"},
        },
        {"id": 3, "previousEventId": 2, "type": "TaskScheduled"},
        {"id": 4, "previousEventId": 3, "type": "TaskStarted"},
        {
            "id": 5,
            "previousEventId": 4,
            "type": "TaskFailed",
            "taskFailedEventDetails": {"error": "ClientError", "cause": json.dumps(lambda_error)},
        },
        {
            "id": 6,
            "previousEventId": 5,
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": "DescribeFailure"},
        },
        {
            "id": 7,
            "previousEventId": 6,
            "type": "TaskFailed",
            "taskFailedEventDetails": {"error": "Lambda.AWSLambdaException", "cause": "Rate exceeded"},
        },
        {"id": 8, "previousEventId": 7, "type": "ExecutionFailed"},
    ]


def test_status_shows_the_first_failure_of_an_unexplained_execution() -> None:
    context: Any = SimpleNamespace(stepfunctions=HistorySfn(_history()))
    execution = describe_execution(context, ARN)
    assert execution is not None and execution["error"] == "Dtrain.FinalizeFailed"
    assert execution["cause"] == (
        "Submit: ClientError: An error occurred (AccessDeniedException) when calling the"
        " CreateTrainingJob operation: not authorized"
    )


def test_an_explained_failure_is_left_as_the_state_machine_wrote_it() -> None:
    class Explained(HistorySfn):
        def describe_execution(self, executionArn: str) -> dict[str, Any]:
            return {"status": "FAILED", "error": "SageMaker.TrainingJobFailed", "cause": "AlgorithmError"}

        def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
            raise AssertionError("no history read for an explained failure")

    context: Any = SimpleNamespace(stepfunctions=Explained([]))
    assert (describe_execution(context, ARN) or {})["cause"] == "AlgorithmError"
