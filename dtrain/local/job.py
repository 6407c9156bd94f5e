"""LocalTrainingJob: one CreateTrainingJob request played on this machine, SageMaker-style.

Phases and statuses follow DescribeTrainingJob: TrainingJobStatus InProgress -> Completed |
Failed | Stopped, with the secondary statuses Starting -> Downloading -> Training ->
Uploading -> Completed (or Failed / Stopped / MaxRuntimeExceeded). The emulator's SageMaker
backend drives jobs through this class; `dtrain local` does too.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from dtrain.local import tensorboard
from dtrain.local.artifacts import copy_dirs, pack_dirs
from dtrain.local.channels import populate_channels
from dtrain.local.code import stage_code
from dtrain.local.config import LocalConfig
from dtrain.local.container_config import instance_count, write_container_config
from dtrain.local.entry_chain import IMAGE_VENVS_ENV, image_toolkit_bin
from dtrain.local.environment import decode_hyperparameters, distribution_of, split_hyperparameters
from dtrain.local.errors import LocalModeError
from dtrain.local.host_chains import (
    chain_specs,
    local_hyperparameters,
    stop_chains,
)
from dtrain.local.host_network import HostNetwork, job_namespace_prefix
from dtrain.local.isolation import detect_isolation
from dtrain.local.layout import JobLayout
from dtrain.local.metrics import EPOCH, STEP, MetricLog, MetricSample
from dtrain.local.processes import RunningProcess, launch

LogSink = Callable[[str, str], None]
# The last line of a Python traceback: "ValueError: ...", "torch.x.SomeError: ...".
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit))(:.*)?$")
# Exceptions a launcher raises about its children, not the training script's own.
LAUNCHER_ERRORS = ("torch.distributed.elastic.", "subprocess.CalledProcessError")
FAILURE_TEXT_LIMIT = 1024  # SageMaker keeps the first 1024 characters of output/failure
MPI_YIELD = "OMPI_MCA_mpi_yield_when_idle"  # Open MPI's MCA parameter, from the environment
_ACTIVE_JOBS: set[Path] = set()
_ACTIVE_LOCK = threading.Lock()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class HostProgress:
    host: str
    processes: int = 0
    running: int = 0
    epoch: int | None = None
    step: int | None = None
    last_line: str = ""


@dataclass
class JobResult:
    job_name: str
    status: str
    secondary_status: str
    secondary_status_transitions: list[dict[str, Any]]
    failure_reason: str | None
    model_artifact: Path | None
    output_artifact: Path | None
    final_metrics: dict[str, float]
    metric_samples: list[MetricSample]
    job_dir: Path
    distribution: str | None
    exit_codes: dict[str, int]
    last_log_lines: list[str]
    creation_time: datetime
    training_start_time: datetime | None
    training_end_time: datetime | None
    end_time: datetime | None
    training_seconds: int
    billable_seconds: int
    # Seconds from start() to the first log line that reports a training step (None if none did).
    first_step_seconds: float | None


@dataclass
class _State:
    status: str = "InProgress"
    secondary: str = "Starting"
    transitions: list[dict[str, Any]] = field(default_factory=list)
    failure_reason: str | None = None


class LocalTrainingJob:
    def __init__(
        self,
        request: Mapping[str, Any],
        *,
        workdir: Path,
        hosts: int | None = None,
        channel_paths: Mapping[str, Path] | None = None,
        code_dir: Path | None = None,
        fs_mounts: Mapping[str, Path] | None = None,
        log_sink: LogSink | None = None,
        config: LocalConfig | None = None,
        base_environ: Mapping[str, str] | None = None,
    ) -> None:
        self.request = dict(request)
        self.job_name = str(request["TrainingJobName"])
        self.config = config or LocalConfig()
        count = hosts if hosts is not None else instance_count(request)
        if count < 1:
            raise LocalModeError(f"--hosts must be at least 1, got {count}")
        self.layout = JobLayout.for_job(Path(workdir), self.job_name, count)
        self.channel_paths = {k: Path(v) for k, v in (channel_paths or {}).items()}
        self.code_dir = Path(code_dir) if code_dir is not None else None
        mounts = {k: Path(v) for k, v in self.config.file_systems.items()}
        mounts.update({k: Path(v) for k, v in (fs_mounts or {}).items()})
        self.fs_mounts = mounts
        self.log_sink = log_sink
        self.base_environ = dict(os.environ if base_environ is None else base_environ)
        self.metrics = MetricLog.for_request(request)
        self.run_id = uuid.uuid4().hex
        self.creation_time = _now()
        self.distribution: str | None = None
        self.host_progress = {t.name: HostProgress(t.name) for t in self.layout.hosts}
        self._state = _State()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._processes: list[RunningProcess] = []
        self._exit_codes: dict[str, int] = {}
        self._host_lines: dict[str, deque[str]] = {t.name: deque(maxlen=40) for t in self.layout.hosts}
        # The training script's own last exception line per host: a launcher (torchrun) prints
        # its ChildFailedError traceback after it, often beyond the lines kept per process.
        self._script_errors: dict[str, str] = {}
        self._log_files: dict[str, IO[str]] = {}
        self._started_at = 0.0
        self._first_step: float | None = None
        self._training_start: datetime | None = None
        self._training_end: datetime | None = None
        self._end: datetime | None = None
        self._model: Path | None = None
        self._output: Path | None = None
        self._stop_reason = "Stopped"
        self._image: str | None = None
        self._network: HostNetwork | None = None

    # ---- public state -------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self._state.status

    @property
    def secondary_status(self) -> str:
        return self._state.secondary

    @property
    def secondary_status_transitions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self._state.transitions]

    @property
    def failure_reason(self) -> str | None:
        return self._state.failure_reason

    @property
    def model_artifact(self) -> Path | None:
        return self._model

    @property
    def final_metrics(self) -> dict[str, float]:
        return self.metrics.final()

    @property
    def job_dir(self) -> Path:
        return self.layout.root

    def last_lines(self, count: int = 20) -> list[str]:
        merged: list[str] = []
        for host, lines in self._host_lines.items():
            merged.extend(f"[{host}] {line}" for line in lines)
        return merged[-count:]

    # ---- control ------------------------------------------------------------------------
    def start(self) -> LocalTrainingJob:
        if self._thread is not None:
            raise RuntimeError("a LocalTrainingJob starts once")
        self._started_at = time.monotonic()
        self._transition("Starting", "Preparing the instances for training")
        self._thread = threading.Thread(target=self._run, name=f"local-job-{self.job_name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, reason: str = "Stopped") -> None:
        """StopTrainingJob: SIGTERM, then SIGKILL after the grace period; no process survives."""
        self._stop_reason = reason
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def wait(self, timeout: float | None = None) -> JobResult:
        if self._thread is None:
            raise RuntimeError("start() the job before wait()")
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"local job {self.job_name} still {self.secondary_status} after {timeout}s")
        return self.result()

    def run(self) -> JobResult:
        return self.start().wait()

    def result(self) -> JobResult:
        training = 0
        if self._training_start is not None:
            end = self._end or _now()
            training = max(1, round((end - self._training_start).total_seconds()))
        return JobResult(
            job_name=self.job_name,
            status=self.status,
            secondary_status=self.secondary_status,
            secondary_status_transitions=self.secondary_status_transitions,
            failure_reason=self.failure_reason,
            model_artifact=self._model,
            output_artifact=self._output,
            final_metrics=self.final_metrics,
            metric_samples=list(self.metrics.samples),
            job_dir=self.layout.root,
            distribution=self.distribution,
            exit_codes=dict(self._exit_codes),
            last_log_lines=self.last_lines(),
            creation_time=self.creation_time,
            training_start_time=self._training_start,
            training_end_time=self._training_end,
            end_time=self._end,
            training_seconds=training,
            billable_seconds=training,  # no spot discount on this machine
            first_step_seconds=self._first_step,
        )

    def describe(self) -> dict[str, Any]:
        """The status part of DescribeTrainingJob, in SageMaker's shapes, for the emulator.

        ModelArtifacts names where SageMaker would put the archive (S3OutputPath/<job>/output/);
        the local file is `model_artifact`.
        """
        result = self.result()
        described: dict[str, Any] = {
            "TrainingJobName": self.job_name,
            "TrainingJobStatus": result.status,
            "SecondaryStatus": result.secondary_status,
            "SecondaryStatusTransitions": result.secondary_status_transitions,
            "CreationTime": result.creation_time,
        }
        if result.failure_reason:
            described["FailureReason"] = result.failure_reason
        if result.training_start_time is not None:
            described["TrainingStartTime"] = result.training_start_time
        if result.end_time is not None:
            described["TrainingEndTime"] = result.end_time
            described["TrainingTimeInSeconds"] = result.training_seconds
            described["BillableTimeInSeconds"] = result.billable_seconds
        if result.model_artifact is not None:
            base = str(self.request.get("OutputDataConfig", {}).get("S3OutputPath", "")).rstrip("/")
            name = "model/" if result.model_artifact.is_dir() else "model.tar.gz"
            described["ModelArtifacts"] = {"S3ModelArtifacts": f"{base}/{self.job_name}/output/{name}"}
        latest: dict[str, MetricSample] = {}
        for sample in result.metric_samples:
            latest[sample.name] = sample
        if latest:
            described["FinalMetricDataList"] = [
                {
                    "MetricName": s.name,
                    "Value": s.value,
                    "Timestamp": datetime.fromtimestamp(s.timestamp, UTC),
                }
                for s in latest.values()
            ]
        return described

    # ---- the run --------------------------------------------------------------------------
    def _transition(self, secondary: str, message: str, status: str | None = None) -> None:
        now = _now()
        with self._lock:
            if self._state.transitions and "EndTime" not in self._state.transitions[-1]:
                self._state.transitions[-1]["EndTime"] = now
            entry: dict[str, Any] = {"Status": secondary, "StartTime": now, "StatusMessage": message}
            if status is not None and status != "InProgress":
                entry["EndTime"] = now
            self._state.transitions.append(entry)
            self._state.secondary = secondary
            if status is not None:
                self._state.status = status

    def _run(self) -> None:
        claimed = False
        try:
            claimed = self._claim()
            self._prepare()
            self._check_stop()
            self._train()
        except LocalModeError as exc:
            self._finish_failed(exc.failure_reason)
        except _StopRequested:
            self._finish_stopped()
        except Exception as exc:  # a bug of ours must still end the job, not hang it
            self._finish_failed(f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            if self._network is not None:
                self._network.close()
            for handle in self._log_files.values():
                handle.close()
            if claimed:
                self._release()

    def _claim(self) -> bool:
        root = self.layout.root
        with _ACTIVE_LOCK:
            if root in _ACTIVE_JOBS:
                raise LocalModeError(f"job {self.job_name} is already running in this process")
            pid_file = self.layout.pid_file
            if pid_file.exists():
                with contextlib.suppress(ValueError, OSError):
                    pid = int(pid_file.read_text().strip())
                    if pid != os.getpid() and _alive(pid):
                        raise LocalModeError(
                            f"job {self.job_name} is already running locally (pid {pid}); "
                            "stop it or pick another --job-name"
                        )
            _ACTIVE_JOBS.add(root)
        root.mkdir(parents=True, exist_ok=True)
        self.layout.pid_file.write_text(str(os.getpid()))
        return True

    def _release(self) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE_JOBS.discard(self.layout.root)
        with contextlib.suppress(OSError):
            self.layout.pid_file.unlink()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise _StopRequested

    def _prepare(self) -> None:
        layout, request = self.layout, self.request
        layout.reset()
        names = [t.name for t in layout.hosts]
        for tree in layout.hosts:
            write_container_config(request, tree, names)
            self._log_files[tree.name] = open(layout.log_file(tree.name), "a", buffering=1)  # noqa: SIM115
        tensorboard.make_dirs(request, layout)
        self._transition("Downloading", "Downloading input data and training code")
        populate_channels(
            request,
            layout.hosts,
            channel_paths=self.channel_paths,
            fs_mounts=self.fs_mounts,
            download_dir=layout.root / "downloads",
        )
        image = str(request["AlgorithmSpecification"].get("TrainingImage", ""))
        self._image = self.config.packaged_image(image)
        hps = decode_hyperparameters(request.get("HyperParameters", {}))
        submit = hps.get("sagemaker_submit_directory")
        stage_code(
            hosts=layout.hosts,
            code_dir=self.code_dir,
            packaged_image=self._image,
            submit_directory=str(submit) if submit is not None else None,
            training_image=image,
            scratch=layout.root / "downloads",
        )

    def _train(self) -> None:
        request, layout = self.request, self.layout
        image = self._image
        if image is None:
            training_image = request["AlgorithmSpecification"].get("TrainingImage", "")
            raise LocalModeError(
                f"image {training_image} is not a packaged image (ddp, horovod): local mode runs a packaged "
                "image's own entry chain; map the image in the local config's 'images'"
            )
        toolkit = image_toolkit_bin(image)
        if not (toolkit / "train").exists():
            raise LocalModeError(
                f"the {image} image's SageMaker training toolkit is missing ({toolkit / 'train'}): run make "
                f"setup in a dtrain checkout, and outside it set {IMAGE_VENVS_ENV} to that checkout"
            )
        for tree in layout.hosts:
            local_hyperparameters(
                tree.config_dir, image=image, processes_per_host=self.config.processes_per_host
            )
        hosts = [t.name for t in layout.hosts]
        isolation = detect_isolation()
        isolation.refuse(len(hosts))
        if len(hosts) > 1:
            self._network = HostNetwork(hosts, prefix=job_namespace_prefix(self.run_id)).open()
        specs = chain_specs(
            request,
            layout,
            image,
            environ=self.base_environ,
            container_env=self._container_env(),
            network=self._network,
            isolation=isolation,
            visible=self._outside_paths(),
        )
        notice = isolation.notice(hosts[0]) if len(hosts) == 1 else None
        if notice is not None:
            self._on_line(hosts[0], f"dtrain local: {notice}")
        algorithm = request.get("AlgorithmSpecification", {})
        if algorithm.get("ContainerEntrypoint") or algorithm.get("ContainerArguments"):
            self.distribution = "container_entry_point"
        else:
            hps = decode_hyperparameters(request.get("HyperParameters", {}))
            self.distribution = distribution_of(split_hyperparameters(hps)[2])
        self._transition("Training", "Training image download completed. Training in progress.")
        self._training_start = _now()
        for host in hosts:
            self.host_progress[host].processes += 1
        self._processes = [launch(spec, self.run_id, self._on_line) for spec in specs]
        outcome = self._supervise()
        self._training_end = _now()
        if outcome == "failed":
            self._finish_failed(self._algorithm_failure())
            return
        if outcome == "stopped":
            raise _StopRequested
        self._transition("Uploading", "Uploading generated training model")
        self._pack(model=True)
        self._end = _now()
        self._transition("Completed", "Training job completed", status="Completed")

    def _container_env(self) -> dict[str, str]:
        """What the container's environment holds beyond the image's: what SageMaker's platform
        sets (the request's Environment, TRAINING_JOB_NAME / _ARN) and local mode's thread count."""
        request = self.request
        env = {str(k): str(v) for k, v in dict(request.get("Environment", {})).items()}
        region = self.base_environ.get("AWS_REGION") or self.base_environ.get("AWS_DEFAULT_REGION") or "local"
        env["TRAINING_JOB_NAME"] = self.job_name
        env["TRAINING_JOB_ARN"] = f"arn:aws:sagemaker:{region}:000000000000:training-job/{self.job_name}"
        threads = self._threads_per_process(len(self.layout.hosts))
        if threads is not None:
            env["OMP_NUM_THREADS"] = str(threads)
        if self._oversubscribed(len(self.layout.hosts)) and not self._set_by_caller(MPI_YIELD):
            env[MPI_YIELD] = "1"
        return env

    def _set_by_caller(self, name: str) -> bool:
        return name in self.base_environ or name in self.request.get("Environment", {})

    def _processes_per_host(self) -> int:
        hps = decode_hyperparameters(self.request.get("HyperParameters", {}))
        return int(hps.get("sagemaker_mpi_num_of_processes_per_host") or self.config.processes_per_host or 1)

    def _oversubscribed(self, host_count: int) -> bool:
        """More ranks than this machine has cores, all hosts together. Each simulated host's mpirun
        counts the machine's cores as its own, so Open MPI does not know, and its ranks busy-poll
        while they wait for a peer that waits for a core (Open MPI yields instead when it knows a
        node is oversubscribed: mpi_yield_when_idle "will default to 1 when oversubscribing
        nodes", ompi/runtime/ompi_mpi_params.c). Measured: a quarter of the Horovod ranks' CPU in
        Open MPI's progress loop with 2 hosts on 2 busy cores."""
        return self._processes_per_host() * host_count > (os.cpu_count() or 1)

    def _outside_paths(self) -> list[Path]:
        """What the hosts' trees link to outside the job's folder (channel data, file systems),
        kept visible in each host's own /tmp."""
        paths = [*self.channel_paths.values(), *self.fs_mounts.values()]
        return [p.resolve() for p in paths if p.exists()]

    def _threads_per_process(self, host_count: int) -> int | None:
        """Simulated hosts share this machine's cores, where SageMaker gives each instance its own:
        left alone, every process would start one thread per core and they would fight for them
        (measured: 9x lower throughput with 2 hosts on 2 cores). A value the request or the
        caller's environment sets wins."""
        if self._set_by_caller("OMP_NUM_THREADS"):
            return None
        return max(1, (os.cpu_count() or 1) // (self._processes_per_host() * host_count))

    def _supervise(self) -> str:
        limit = self.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        deadline = time.monotonic() + float(limit) if limit else None
        workers = self._processes
        while True:
            self._update_running()
            if self._stop.is_set():
                self._terminate()
                return "stopped"
            if deadline is not None and time.monotonic() > deadline:
                self._stop_reason = "MaxRuntimeExceeded"
                self._terminate()
                return "stopped"
            codes = [p.poll() for p in workers]
            if any(code not in (None, 0) for code in codes):
                self._terminate()
                return "failed"
            if all(code == 0 for code in codes):
                self._terminate()  # parameter servers and anything a launcher left behind
                return "completed"
            time.sleep(0.1)

    def _update_running(self) -> None:
        running = dict.fromkeys(self.host_progress, 0)
        for process in self._processes:
            alive = process.poll() is None
            for host in process.spec.rank_hosts or [process.spec.host]:
                running[host] += 1 if alive else 0
        for host, count in running.items():
            self.host_progress[host].running = count

    def _terminate(self) -> None:
        stop_chains(self._processes, self.run_id, grace_seconds=self.config.stop_grace_seconds)
        for process in self._processes:
            code = process.poll()
            if code is not None:
                self._exit_codes[f"{process.spec.host}:{process.spec.name or 'process'}:{process.pid}"] = code
        self._update_running()

    def _on_line(self, host: str, line: str) -> None:
        self._host_lines[host].append(line)
        text = line.strip()
        if EXCEPTION_LINE.match(text) and not text.startswith(LAUNCHER_ERRORS):
            self._script_errors[host] = text
        handle = self._log_files.get(host)
        if handle is not None and not handle.closed:
            handle.write(line + "\n")
        progress = self.host_progress[host]
        progress.last_line = line
        samples = self.metrics.feed(host, line)
        named = {s.name: s.value for s in samples}
        epoch = named.get("epoch")
        step = named.get("step")
        if epoch is None and (m := EPOCH.search(line)):
            epoch = float(m.group(1))
        if step is None and (m := STEP.search(line)):
            step = float(m.group(1))
        if epoch is not None:
            progress.epoch = int(epoch)
        if step is not None:
            progress.step = int(step)
            if self._first_step is None:
                self._first_step = time.monotonic() - self._started_at
        if self.log_sink is not None:
            self.log_sink(host, line)

    def _algorithm_failure(self) -> str:
        for tree in self.layout.hosts:
            if tree.failure_file.is_file():
                text = tree.failure_file.read_text(errors="replace").strip()
                if text:
                    return f"AlgorithmError: {text[:FAILURE_TEXT_LIMIT]}"
        failed = [p for p in self._processes if p.poll() not in (None, 0) and not p.spec.daemon]
        process = failed[0] if failed else self._processes[0]
        code = process.poll()
        where = f"{process.spec.name or 'process'} on {process.spec.host} exited with code {code}"
        # Without a failure file, SageMaker's toolkit reports the script's error message (its
        # stderr's exception), not the launcher's exit: the first host's script error wins.
        for tree in self.layout.hosts:
            if tree.name in self._script_errors:
                return f"AlgorithmError: {self._script_errors[tree.name][:FAILURE_TEXT_LIMIT]} ({where})"
        cause = ""
        for entry in reversed(process.last_lines):
            text = entry.split("] ", 1)[-1].strip()
            if EXCEPTION_LINE.match(text):
                cause = text
                break
        if not cause:
            texts = [e.split("] ", 1)[-1].strip() for e in process.last_lines]
            cause = next((t for t in reversed(texts) if t), "")
        return f"AlgorithmError: {cause} ({where})" if cause else f"AlgorithmError: {where}"

    def _pack(self, *, model: bool) -> None:
        out = self.layout.artifacts_dir
        tensorboard.collect(self.request, self.layout)
        if self.request.get("OutputDataConfig", {}).get("CompressionType") == "NONE":
            if model:
                self._model = copy_dirs([t.model_dir for t in self.layout.hosts], out / "model")
            self._output = copy_dirs([t.output_dir / "data" for t in self.layout.hosts], out / "output")
            return
        if model:
            self._model = pack_dirs([t.model_dir for t in self.layout.hosts], out / "model.tar.gz")
        self._output = pack_dirs([t.output_dir / "data" for t in self.layout.hosts], out / "output.tar.gz")

    def _finish_failed(self, reason: str) -> None:
        if self._processes:
            self._terminate()
        with contextlib.suppress(OSError):
            self._pack(model=False)
        self._state.failure_reason = reason
        self._end = _now()
        self._transition("Failed", reason[:FAILURE_TEXT_LIMIT], status="Failed")

    def _finish_stopped(self) -> None:
        if self._processes:
            self._terminate()
        if self._training_start is not None:
            # SageMaker uploads what the model dir holds when a job is stopped.
            self._transition("Uploading", "Uploading generated training model")
            self._training_end = self._training_end or _now()
            with contextlib.suppress(OSError):
                self._pack(model=True)
        self._end = _now()
        message = "Training job stopped"
        if self._stop_reason == "MaxRuntimeExceeded":
            message = "Training job exceeded MaxRuntimeInSeconds"
        self._transition(self._stop_reason, message, status="Stopped")


class _StopRequested(Exception):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
