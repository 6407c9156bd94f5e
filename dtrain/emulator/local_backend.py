"""SageMaker behind the emulator, backed by local mode: created jobs really train here.

A job the Submit Lambda creates runs through `dtrain.local.LocalTrainingJob` with the request
exactly as it was sent. Its status and secondary statuses follow the processes, its log lines
go to the emulated CloudWatch Logs under SageMaker's names (/aws/sagemaker/TrainingJobs,
stream <job>/algo-N), model.tar.gz is uploaded to the emulated S3 at the request's output path,
and the terminal state-change event is put on the emulated EventBridge. StopTrainingJob (and
StopProcessingJob) answers at once with the job Stopping and stops the processes; the job is
Stopped once they have ended and at least `durations.job_stopping_s` has passed since the stop,
as the lifecycle holds every other job's stop (dtrain.emulator.lifecycle).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dtrain.emulator.authz import hook as authz_hook
from dtrain.emulator.job_logs import put_job_logs
from dtrain.emulator.lifecycle import Durations
from dtrain.emulator.lifecycle.quotas import QuotaBook
from dtrain.emulator.processing_backend import LocalProcessingRun, ProcessingControl
from dtrain.emulator.sagemaker import CreateThrottle, JobControl
from dtrain.local import LocalTrainingJob

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
log = logging.getLogger(__name__)
_TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass
class LocalRunnerBackend:
    workdir: Path
    config: Any = None  # dtrain.local.LocalConfig (images: ECR URI -> "ddp" | "horovod", file systems)
    hosts: int | None = None
    poll_s: float = 0.2
    throttle: CreateThrottle = field(default_factory=CreateThrottle)
    quotas: QuotaBook = field(default_factory=QuotaBook)  # the lifecycle's (warm pools)
    durations: Durations = field(default_factory=Durations)  # the lifecycle's (Stopping lasts)
    stop_asked_at: dict[str, float] = field(default_factory=dict)  # time.monotonic() of each stop
    jobs: dict[str, JobControl] = field(default_factory=dict)
    runs: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit_create(self) -> bool:
        return self.throttle.admit()

    def created(self, backend: Any, job: Any, request: Mapping[str, Any] | None = None) -> None:
        control = JobControl(backend, job, request, self.quotas)
        control.start()
        with self._lock:
            self.jobs[control.name] = control
        threading.Thread(
            target=self._run, args=(control,), name=f"emulated-job-{control.name}", daemon=True
        ).start()

    def stop_requested(self, backend: Any, job: Any) -> None:
        control = self.jobs[str(job.training_job_name)]
        self.stop_asked_at[control.name] = time.monotonic()
        with control.lock:
            job.training_job_status = "Stopping"
            control._transition("Stopping", "Stopping the training job")
        run = self.runs.get(control.name)
        if run is not None:
            # LocalTrainingJob.stop joins its runner thread: not on the API caller's thread.
            threading.Thread(target=run.stop, daemon=True).start()
        else:  # not started yet: _run_as_role sees the job Stopping and holds the state as long
            threading.Thread(target=self._finish_stopped, args=(control,), daemon=True).start()

    def _finish_stopped(self, control: JobControl) -> None:
        self._hold_stopping(control.name)
        control.finish("Stopped")

    def _hold_stopping(self, name: str) -> None:
        """A stopped job stays Stopping for at least the lifecycle's duration since the stop."""
        asked = self.stop_asked_at.get(name)
        if asked is not None:
            self.durations.hold(asked, self.durations.job_stopping_s)

    # -- processing jobs (dtrain.emulator.processing_backend) -------------------------------
    def processing_created(self, backend: Any, job: Any, request: Mapping[str, Any]) -> None:
        control = ProcessingControl(backend, job, request)
        control.start()
        image = str(request.get("AppSpecification", {}).get("ImageUri", ""))
        python = self.config.python_for(self.config.images.get(image)) if self.config else sys.executable
        run = LocalProcessingRun(control, workdir=self.workdir, python=python, durations=self.durations)
        with self._lock:
            self.jobs[control.name] = control  # type: ignore[assignment]
            self.runs[control.name] = run
        run.start()

    def processing_stop_requested(self, backend: Any, job: Any) -> None:
        self.runs[str(job.processing_job_name)].stop()

    # -- one job ---------------------------------------------------------------------------
    def _run(self, control: JobControl) -> None:
        # Everything the job does (channel and code download, logs, model upload) SageMaker
        # does with the job's execution role.
        refused = authz_hook.job_file_systems_refused(control.request, control.backend.region_name)
        if refused:  # SageMaker cannot mount an EFS channel: the job fails as it starts
            control.finish("Failed", failure_reason=f"ClientError: {refused}")
            return
        with authz_hook.execution_role(str(control.request.get("RoleArn", "")), control.name):
            self._run_as_role(control)

    def _run_as_role(self, control: JobControl) -> None:
        import boto3

        logs = boto3.client("logs", region_name=control.backend.region_name)
        pending: list[tuple[str, str]] = []
        pending_lock = threading.Lock()

        def sink(host: str, line: str) -> None:
            with pending_lock:
                pending.append((host, line))

        try:
            run = LocalTrainingJob(
                control.request, workdir=self.workdir, hosts=self.hosts, config=self.config, log_sink=sink
            )
            self.runs[control.name] = run
            run.start()
            seen = 1  # LocalTrainingJob's first transition is Starting, as ours
            while run.status not in _TERMINAL:
                time.sleep(self.poll_s)
                seen = self._mirror(control, run, seen)
                self._flush_logs(logs, control.name, pending, pending_lock)
            result = run.wait()
            self._mirror(control, run, seen)
            self._flush_logs(logs, control.name, pending, pending_lock)
            self._hold_stopping(control.name)
            if result.status == "Completed" and result.model_artifact is not None:
                self._upload_model(control, Path(result.model_artifact))
            control.finish(
                result.status,
                failure_reason=result.failure_reason,
                metrics=result.final_metrics,
                training_seconds=result.training_seconds,
                billable_seconds=result.billable_seconds,
            )
        except Exception as exc:  # a job that cannot even start fails like SageMaker's would
            self.errors[control.name] = repr(exc)
            if not control.finish("Failed", failure_reason=f"ClientError: {exc}"):
                # The job was over already: the failure is the emulator's own (its state-change
                # event could not be built or put), no event comes and the execution waits on its
                # token, so the cause is said where the emulator's user sees it.
                log.error(
                    "emulated training job %s failed after it ended; its state-change event may be lost",
                    control.name,
                    exc_info=exc,
                )

    def _mirror(self, control: JobControl, run: Any, seen: int) -> int:
        transitions = run.secondary_status_transitions
        for t in transitions[seen:]:
            if t.get("Status") not in _TERMINAL:
                control.progress(str(t.get("Status")), str(t.get("StatusMessage") or ""))
        return max(seen, len(transitions))

    def _flush_logs(self, logs: Any, job: str, pending: list[tuple[str, str]], lock: threading.Lock) -> None:
        with lock:
            batch, pending[:] = list(pending), []
        if not batch:
            return
        put_job_logs(logs, LOG_GROUP, job, batch)

    def _upload_model(self, control: JobControl, model: Path) -> None:
        import boto3

        output = str(control.request["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
        s3 = boto3.client("s3", region_name=control.backend.region_name)
        # Uncompressed output (CompressionType NONE): the model's files under output/model/.
        files = [(model, "model.tar.gz")]
        if model.is_dir():
            files = [
                (p, f"model/{p.relative_to(model).as_posix()}")
                for p in sorted(model.rglob("*"))
                if p.is_file()
            ]
        for path, key in files:
            parsed = urlparse(f"{output}/{control.name}/output/{key}")
            s3.upload_file(str(path), parsed.netloc, parsed.path.lstrip("/"))


def local_sagemaker_backend(workdir: Path, *, hosts: int | None = None) -> LocalRunnerBackend:
    """The emulator's SageMaker backend that trains with local mode under `workdir`."""
    return LocalRunnerBackend(workdir=workdir, hosts=hosts)
