"""The emulator's local SageMaker backend says when its own runner fails: once a job is over and its
state-change event cannot be built or put (an installed emulator once lacked the event samples),
no event comes and the execution waits on its token, so the cause must reach the log."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dtrain.emulator import local_backend


class _Run:
    """A local training job that completes at once (no processes)."""

    status = "Completed"
    secondary_status_transitions: list[dict[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def wait(self) -> Any:
        return SimpleNamespace(
            status="Completed",
            model_artifact=None,
            failure_reason=None,
            final_metrics={},
            training_seconds=1,
            billable_seconds=1,
        )


class _Control:
    """A job whose terminal event cannot be put: finish ends the job, then raises."""

    name = "job-without-event"
    request: dict[str, Any] = {}
    backend = SimpleNamespace(region_name="us-east-1")

    def __init__(self) -> None:
        self.finished: list[str] = []

    def finish(self, status: str, **kwargs: Any) -> bool:
        if self.finished:
            return False  # over already: SageMaker's status does not change twice
        self.finished.append(status)
        raise FileNotFoundError("samples/training_job_state_change.json")

    def progress(self, status: str, message: str) -> None:
        pass


def test_a_runner_failure_after_the_job_ended_is_logged_with_its_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(local_backend, "LocalTrainingJob", _Run)
    backend = local_backend.LocalRunnerBackend(workdir=tmp_path, poll_s=0.01)
    control = _Control()
    with caplog.at_level(logging.ERROR, logger=local_backend.__name__):
        backend._run_as_role(control)  # type: ignore[arg-type]
    assert control.finished == ["Completed"]
    assert "FileNotFoundError" in backend.errors[control.name]
    [record] = [r for r in caplog.records if control.name in r.getMessage()]
    assert record.exc_info is not None and "training_job_state_change.json" in str(record.exc_info[1])
