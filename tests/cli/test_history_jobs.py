"""An execution's jobs read from its history (dtrain/remote/history_jobs.py): the names Submit
gives them, for a team's scientist whom the job ledger refuses (issue 29)."""

from __future__ import annotations

import json
from typing import Any

from dtrain.orchestration.payloads import parse_submit_event
from dtrain.orchestration.submit import SubmitRequest
from dtrain.remote.history_jobs import rows_from_events

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:dtrain-vision:run-1"
SPEC = {
    "framework": "pytorch",
    "job_name": "resnet",
    "estimator": {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.g5.xlarge",
        "instance_count": 1,
        "max_run": 3600,
    },
}


def _scheduled(phase: str, **fields: Any) -> dict[str, Any]:
    payload = {
        "phase": phase,
        "spec": SPEC,
        "task_token": "tok",
        "execution_arn": EXECUTION,
        "execution_name": "run-1",
        "execution_start": "2026-12-07T12:00:00.000Z",
        "team": "vision",
        **fields,
    }
    parameters = {
        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:SubmitJob",
        "Payload": payload,
    }
    return {"type": "TaskScheduled", "taskScheduledEventDetails": {"parameters": json.dumps(parameters)}}


def test_each_submit_s_job_is_named_as_submit_names_it_once_per_job() -> None:
    submit = _scheduled("submit")
    events = [
        _scheduled("prepare"),  # no job
        submit,
        {**submit},  # a retried Submit names the same job
        _scheduled("submit", is_sweep_item=True, item_index=1, overrides={"hyperparameters": {"lr": 0.1}}),
        {"type": "TaskSucceeded"},
    ]
    rows = rows_from_events(events, "dtrain-vision")
    payload = json.loads(submit["taskScheduledEventDetails"]["parameters"])["Payload"]
    expected = SubmitRequest.from_payload(parse_submit_event(payload)).job_name("dtrain-vision")  # type: ignore[arg-type]
    assert rows[0].job_name == expected
    assert len(rows) == 2 and all(row.job_name.startswith("dtrain-vision-resnet-") for row in rows)
    assert {(row.execution_arn, row.kind) for row in rows} == {(EXECUTION, "training")}
