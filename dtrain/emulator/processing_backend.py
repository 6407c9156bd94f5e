"""SageMaker Processing behind the emulator: CreateProcessingJob, Describe, Stop, and the event.

moto records a CreateProcessingJob and calls it Completed at once. The shims here hand every
created job to the emulator's SageMaker backend instead, as training jobs are:

- `EventPlaybackBackend`: the job stays InProgress until the test plays its outcome
  (`complete`, `fail`, `stop`, the same calls as for a training job);
- `LocalRunnerBackend`: the job runs on this machine with SageMaker Processing's layout
  (dtrain.local.processing_job), as the job's execution role: inputs are downloaded from the
  emulated S3, outputs uploaded to it (EndOfJob: once the command succeeded; Continuous: also
  what a failed job had written), log lines go to /aws/sagemaker/ProcessingJobs.

Each terminal status puts SageMaker's "Processing Job State Change" event on the emulated
EventBridge, built from the job's DescribeProcessingJob answer field for field as AWS's
published sample (dtrain.emulator.lifecycle.events).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dtrain.emulator.authz import hook as authz_hook
from dtrain.emulator.job_creates import patch_job_create
from dtrain.emulator.job_logs import put_job_logs
from dtrain.emulator.lifecycle import Durations
from dtrain.emulator.lifecycle.events import PROCESSING_JOB_STATE_CHANGE, put_state_change
from dtrain.local.processing_job import run_processing_locally

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # moto keeps naive UTC datetimes


class ProcessingControl:
    """Moves one emulated processing job through its statuses and emits its event. Its
    `finish` takes the training control's keyword arguments (tests play both alike) and
    ignores those a processing job has no field for."""

    def __init__(self, backend: Any, job: Any, request: Mapping[str, Any]) -> None:
        self.backend = backend
        self.job = job
        self.request = request
        self.lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.job.processing_job_name)

    @property
    def status(self) -> str:
        return str(self.job.processing_job_status)

    def start(self) -> None:
        job, now = self.job, _now()
        job.processing_job_status = "InProgress"
        job.processing_start_time = now
        job.processing_end_time = None
        job.last_modified_time = now
        # What moto's model leaves out of DescribeProcessingJob.
        for key, attribute in (
            ("ProcessingResources", "processing_resources"),
            ("Environment", "environment"),
        ):
            if key in self.request:
                setattr(job, attribute, copy.deepcopy(self.request[key]))

    def progress(self, secondary: str, message: str = "") -> None:
        """Processing jobs have no secondary statuses; kept for the training control's callers."""

    def stopping(self) -> None:
        with self.lock:
            if self.status == "InProgress":
                self.job.processing_job_status = "Stopping"
                self.job.last_modified_time = _now()

    def finish(
        self,
        status: str,
        *,
        failure_reason: str | None = None,
        exit_message: str | None = None,
        emit: bool = True,
        **_training_only: Any,
    ) -> bool:
        """Terminal status + SageMaker's event; False if the job had finished already."""
        with self.lock:
            if self.status not in ("InProgress", "Stopping"):
                return False
            now = _now()
            self.job.processing_job_status = status
            self.job.processing_end_time = now
            self.job.last_modified_time = now
            if failure_reason:
                self.job.failure_reason = failure_reason
            if exit_message:
                self.job.exit_message = exit_message
        if emit:
            self.emit_state_change()
        return True

    def emit_state_change(self) -> None:
        put_state_change(self.backend, PROCESSING_JOB_STATE_CHANGE, self.job)


# -- the backends' hooks -----------------------------------------------------------------------
def playback_created(registry: Any, backend: Any, job: Any, request: Mapping[str, Any]) -> ProcessingControl:
    """EventPlaybackBackend: the job waits for the test (or the backend's auto-complete)."""
    control = ProcessingControl(backend, job, request)
    control.start()
    with registry._job_added:
        registry.jobs[control.name] = control
        registry.created_order.append(control.name)
        registry._job_added.notify_all()
    if registry.auto_complete_after_s is not None:
        timer = threading.Timer(registry.auto_complete_after_s, lambda: control.finish("Completed"))
        timer.daemon = True
        timer.start()
    return control


def playback_stop(control: Any, stopping_s: float = 0.0) -> None:
    """`control`: the ProcessingControl the backend's `jobs` holds under the job's name; the job
    is Stopping for `stopping_s` before it is Stopped."""
    control.stopping()
    if stopping_s <= 0:
        control.finish("Stopped")
        return
    timer = threading.Timer(stopping_s, lambda: control.finish("Stopped"))
    timer.daemon = True
    timer.start()


class LocalProcessingRun:
    """One processing job run by dtrain.local.processing_job in a thread, as its execution role."""

    def __init__(
        self, control: ProcessingControl, *, workdir: Path, python: str, durations: Durations | None = None
    ) -> None:
        self.control = control
        self.workdir = workdir / "processing-jobs" / control.name
        self.python = python
        self.durations = durations or Durations()  # the lifecycle's: how long Stopping lasts
        self.stop_event = threading.Event()
        self.stop_asked_at: float | None = None
        self.error: str | None = None

    def start(self) -> None:
        threading.Thread(
            target=self._run, name=f"emulated-processing-{self.control.name}", daemon=True
        ).start()

    def stop(self) -> None:
        self.stop_asked_at = time.monotonic()
        self.control.stopping()
        self.stop_event.set()

    def _run(self) -> None:
        request = self.control.request
        with authz_hook.execution_role(str(request.get("RoleArn", "")), self.control.name):
            try:
                self._run_as_role(request)
            except Exception as exc:  # a job that cannot even start fails like SageMaker's would
                self.error = repr(exc)
                self.control.finish("Failed", failure_reason=f"ClientError: {exc}")

    def _run_as_role(self, request: Mapping[str, Any]) -> None:
        import boto3

        region = self.control.backend.region_name
        logs = boto3.client("logs", region_name=region)
        lines: list[tuple[str, str]] = []

        def sink(host: str, line: str) -> None:
            lines.append((host.split("/", 1)[0], line))

        # Its own workdir, so its S3 stand-in is empty: every input comes from the emulated S3.
        result = run_processing_locally(
            request, workdir=self.workdir, python=self.python, log_sink=sink, stop=self.stop_event
        )
        put_job_logs(logs, LOG_GROUP, self.control.name, lines)
        s3 = boto3.client("s3", region_name=region)
        for out in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            s3_output = out["S3Output"]
            local = result.staged.get(str(out["OutputName"]))
            # EndOfJob outputs of a job that did not complete are not uploaded; Continuous ones
            # keep what was there (SageMaker uploaded it while the job ran).
            if local is None or (result.status != "Completed" and s3_output["S3UploadMode"] != "Continuous"):
                continue
            _upload_tree(s3, local, str(s3_output["S3Uri"]))
        if self.stop_event.is_set() and result.status != "Completed":
            # Stopped once the process has ended and Stopping has lasted the lifecycle's duration.
            if self.stop_asked_at is not None:
                self.durations.hold(self.stop_asked_at, self.durations.job_stopping_s)
            self.control.finish("Stopped")
            return
        self.control.finish(
            result.status,
            failure_reason=result.failure_reason,
            exit_message=result.failure_reason,
        )


def _upload_tree(s3: Any, local: Path, uri: str) -> None:
    parsed = urlparse(uri)
    prefix = parsed.path.strip("/")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = (
            f"{prefix}/{path.relative_to(local).as_posix()}" if prefix else path.relative_to(local).as_posix()
        )
        s3.upload_file(str(path), parsed.netloc, key)


# -- the shims -----------------------------------------------------------------------------
def install(patch: Callable[[Any, str, Any], None], sagemaker_backend: Any) -> None:
    """CreateProcessingJob (throttling, the backend runs the job) and StopProcessingJob onto
    moto's SageMaker; the lifecycle gate refuses what AWS refuses first."""
    from moto.sagemaker.models import SageMakerModelBackend

    def created(moto_backend: Any, job: Any, request: dict[str, Any]) -> None:
        hook = getattr(sagemaker_backend, "processing_created", None)
        if hook is not None:
            hook(moto_backend, job, request)

    patch_job_create(patch, "create_processing_job", sagemaker_backend, created)

    def stop_processing_job(self: Any, processing_job_name: str) -> None:
        # A job that is missing or has ended: refused by the lifecycle gate before this.
        job = self.processing_jobs[processing_job_name]
        if job.processing_job_status == "InProgress":  # a second stop while Stopping: nothing to do
            sagemaker_backend.processing_stop_requested(self, job)

    patch(SageMakerModelBackend, "stop_processing_job", stop_processing_job)
