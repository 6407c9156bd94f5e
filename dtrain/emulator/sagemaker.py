"""SageMaker behind the emulator's API: who decides how a training job's status moves.

moto records a CreateTrainingJob and calls it Completed at once. The emulator hands every
created job to a `SageMakerBackend` instead:

- `EventPlaybackBackend` (the tests' default): jobs stay InProgress until the test plays an
  outcome (`complete`, `fail`, `stop`); each terminal transition puts SageMaker's
  "Training Job State Change" event on the emulated EventBridge (or, on request, loses it),
  built field for field as AWS's published sample (dtrain.emulator.lifecycle.events). A stop
  passes through Stopping for `durations.job_stopping_s` (dtrain.emulator.lifecycle).
- A backend that runs jobs through the local runner (dtrain.local) plugs in the same way.

Both can throttle CreateTrainingJob (ThrottlingException beyond `create_rate_per_s`), as
SageMaker does at about 1 call per second per account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from dtrain.emulator.lifecycle import Durations
from dtrain.emulator.lifecycle.events import TRAINING_JOB_STATE_CHANGE as JOB_STATE_CHANGE
from dtrain.emulator.lifecycle.events import put_state_change
from dtrain.emulator.lifecycle.quotas import QuotaBook, warm_pools_held
from dtrain.emulator.processing_backend import playback_created, playback_stop


class SageMakerBackend(Protocol):
    def admit_create(self) -> bool:
        """False answers ThrottlingException to this CreateTrainingJob."""

    def created(self, backend: Any, job: Any, request: Mapping[str, Any]) -> None:
        """A job was created (moto's FakeTrainingJob; `request` as the client sent it)."""

    def stop_requested(self, backend: Any, job: Any) -> None:
        """StopTrainingJob was called for a job in progress."""


@dataclass
class CreateThrottle:
    """At most `rate_per_s` CreateTrainingJob calls per second (None: unlimited)."""

    rate_per_s: float | None = None
    admitted: int = 0
    refused: int = 0
    _next_slot: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self) -> bool:
        with self._lock:
            if self.rate_per_s is None:
                self.admitted += 1
                return True
            now = time.monotonic()
            if now < self._next_slot:
                self.refused += 1
                return False
            self._next_slot = now + 1.0 / self.rate_per_s
            self.admitted += 1
            return True


def _now() -> datetime:
    # moto keeps naive UTC datetimes in its SageMaker models.
    return datetime.now(UTC).replace(tzinfo=None)


def _describe(job: Any) -> dict[str, Any]:
    return dict(job.response_object)


class JobControl:
    """Moves one emulated job through SageMaker's statuses and emits its events."""

    def __init__(
        self,
        backend: Any,
        job: Any,
        request: Mapping[str, Any] | None = None,
        quotas: QuotaBook | None = None,
    ) -> None:
        self.backend = backend
        self.job = job
        self.request: Mapping[str, Any] = request or {}
        self.lock = threading.Lock()
        # The account's warm-pool quotas (dtrain.emulator.lifecycle.quotas; default 0).
        self.quotas = quotas or QuotaBook()

    @property
    def name(self) -> str:
        return str(self.job.training_job_name)

    @property
    def status(self) -> str:
        return str(self.job.training_job_status)

    def start(self) -> None:
        now = _now()
        job = self.job
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.training_start_time = None
        job.training_end_time = None
        job.final_metric_data_list = []
        job.secondary_status_transitions = [
            {"Status": "Starting", "StartTime": now, "StatusMessage": "Preparing the instances for training"}
        ]
        # SageMaker has no artifacts before the job ends; moto fills them in at create.
        self._artifacts = job.model_artifacts
        job.model_artifacts = None
        job.last_modified_time = now

    def _transition(self, status: str, message: str) -> None:
        now = _now()
        transitions = self.job.secondary_status_transitions
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
        self.job.secondary_status = status
        self.job.last_modified_time = now

    def progress(self, secondary: str, message: str = "") -> None:
        with self.lock:
            if self.status == "InProgress":
                self._transition(secondary, message or secondary)

    def finish(
        self,
        status: str,
        *,
        failure_reason: str | None = None,
        metrics: Mapping[str, float] | None = None,
        training_seconds: int | None = None,
        billable_seconds: int | None = None,
        interruptions: int = 0,
        emit: bool = True,
    ) -> bool:
        """Terminal status + SageMaker's event; False if the job had finished already."""
        with self.lock:
            if self.status not in ("InProgress", "Stopping"):
                return False
            job = self.job
            now = _now()
            for _ in range(interruptions):
                self._transition("Interrupted", "Training job interrupted (spot capacity reclaimed)")
                self._transition("Restarting", "Restarting the training job from its checkpoint")
            if status == "Completed":
                self._transition("Training", "Training image download completed. Training in progress.")
                self._transition("Uploading", "Uploading generated training model")
            self._transition(status, failure_reason or f"Training job {status.lower()}")
            self.job.secondary_status_transitions[-1]["EndTime"] = now
            job.training_job_status = status
            start = job.creation_time
            job.training_start_time = start
            job.training_end_time = now
            elapsed = max(1, int((now - start).total_seconds()))
            training = training_seconds if training_seconds is not None else elapsed
            job.training_time_in_seconds = training
            job.billable_time_in_seconds = billable_seconds if billable_seconds is not None else training
            if status == "Completed":
                job.model_artifacts = self._artifacts
                # A warm pool is retained only within the warm-pool quota (default 0: none, and no
                # error): train-warm-pools-resource-limits.html.
                # A copy of moto's jobs first: a Create in another thread adds to the dict.
                jobs = list(self.backend.training_jobs.values())
                held = warm_pools_held(j for j in jobs if j is not job)
                if self.quotas.warm_pool_granted(self.request, held):
                    job.warm_pool_status = {"Status": "Available", "ResourceRetainedBillableTimeInSeconds": 0}
            if failure_reason:
                job.failure_reason = failure_reason
            job.final_metric_data_list = [
                {"MetricName": k, "Value": float(v), "Timestamp": now} for k, v in (metrics or {}).items()
            ]
        if emit:
            self.emit_state_change()
        return True

    def emit_state_change(self) -> None:
        put_state_change(self.backend, JOB_STATE_CHANGE, self.job)


@dataclass
class EventPlaybackBackend:
    """Jobs wait for the test to play their outcome; stops are honoured at once."""

    throttle: CreateThrottle = field(default_factory=CreateThrottle)
    durations: Durations = field(default_factory=Durations)
    quotas: QuotaBook = field(default_factory=QuotaBook)
    auto_complete_after_s: float | None = None
    auto_metrics: Mapping[str, float] = field(default_factory=dict)
    jobs: dict[str, JobControl] = field(default_factory=dict)
    created_order: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _job_added: threading.Condition = field(default_factory=threading.Condition)

    def admit_create(self) -> bool:
        return self.throttle.admit()

    def created(self, backend: Any, job: Any, request: Mapping[str, Any] | None = None) -> None:
        control = JobControl(backend, job, request, self.quotas)
        control.start()
        with self._job_added:
            self.jobs[control.name] = control
            self.created_order.append(control.name)
            self._job_added.notify_all()
        if self.auto_complete_after_s is not None:
            timer = threading.Timer(
                self.auto_complete_after_s, lambda: control.finish("Completed", metrics=self.auto_metrics)
            )
            timer.daemon = True
            timer.start()

    def stop_requested(self, backend: Any, job: Any) -> None:
        control = self.jobs[str(job.training_job_name)]
        with control.lock:
            job.training_job_status = "Stopping"
            control._transition("Stopping", "Stopping the training job")
        if self.durations.job_stopping_s <= 0:
            control.finish("Stopped", failure_reason=None)
            return
        timer = threading.Timer(self.durations.job_stopping_s, lambda: control.finish("Stopped"))
        timer.daemon = True
        timer.start()

    # Processing jobs (dtrain.emulator.processing_backend): in `jobs` too, played alike.
    def processing_created(self, backend: Any, job: Any, request: Mapping[str, Any]) -> None:
        playback_created(self, backend, job, request)

    def processing_stop_requested(self, backend: Any, job: Any) -> None:
        playback_stop(self.jobs[str(job.processing_job_name)], self.durations.job_stopping_s)

    # -- what tests play ------------------------------------------------------------------
    def wait_for_jobs(self, count: int, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        with self._job_added:
            while len(self.created_order) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.created_order)} of {count} training jobs created")
                self._job_added.wait(left)
            return list(self.created_order)

    def job(self, name: str) -> JobControl:
        return self.jobs[name]

    def complete(self, name: str, **kwargs: Any) -> bool:
        return self.jobs[name].finish("Completed", **kwargs)

    def fail(self, name: str, reason: str, **kwargs: Any) -> bool:
        return self.jobs[name].finish("Failed", failure_reason=reason, **kwargs)
