"""A processing job on this machine, with SageMaker Processing's container layout.

<workdir>/processing/<job>/
    algo-1/ ... algo-N/         what the container sees as /opt/ml on each instance
        processing/input/<...>  each ProcessingInput's LocalPath (downloaded: File mode)
        processing/output/<...> each ProcessingOutput's LocalPath (uploaded at the end)
        config/processingjobconfig.json, config/resourceconfig.json
    logs/algo-<i>.log
<workdir>/s3/<bucket>/<key>     the local S3 stand-in: outputs are uploaded here, and inputs are
                                read from here when present (else from S3 with boto3)

Source for the layout and config files: "How Amazon SageMaker Processing Configures Your
Processing Container", https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html
Paths under /opt/ml in the entrypoint and arguments are rebased to the host's tree, as local
mode does for training (SAGEMAKER_BASE_DIR is set too, for scripts that read it). Outputs with
S3UploadMode EndOfJob are uploaded once the command succeeded; Continuous ones are also copied
every CONTINUOUS_UPLOAD_SECONDS while it runs (what is there when a job fails stays there).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dtrain.local.contained import inside, strictly_inside
from dtrain.local.errors import LocalModeError
from dtrain.local.processes import ProcessSpec, RunningProcess, launch, stop_all
from dtrain.local.s3 import download_prefix
from dtrain.requests.processing_request import (
    CODE_INPUT_NAME,
    build_processing_job_request,
    local_code_path,
)

CONTAINER_BASE = "/opt/ml"
CONTINUOUS_UPLOAD_SECONDS = 0.5
# SIGTERM, then this long, then SIGKILL: a stopped or interrupted job's commands (and children).
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class LocalProcessingResult:
    job_name: str
    status: str  # Completed | Failed
    exit_code: int
    seconds: float
    outputs: Mapping[str, Path]  # output name -> its directory in the S3 stand-in
    log: Path
    failure_reason: str | None = None
    # Output name -> what is there to upload: every output of a completed job, the Continuous
    # ones of a failed or stopped job (what SageMaker had uploaded while it ran).
    staged: Mapping[str, Path] = field(default_factory=dict)
    # The last lines each host's command printed ("[algo-1] ..."), shown when it failed.
    output_tail: list[str] = field(default_factory=list)


def stand_in_path(s3_root: Path, uri: str) -> Path:
    """`s3://bucket/key` -> `<s3_root>/bucket/key`; LocalModeError when the bucket or the key
    would lead out of the bucket's folder (`s3://../../victim`, `s3://b/../../x`)."""
    if not uri.startswith("s3://"):
        raise LocalModeError(f"{uri!r}: not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    bucket_dir = strictly_inside(s3_root, bucket, what=f"{uri}: the bucket")
    if bucket_dir.parent != Path(os.path.abspath(s3_root)):
        raise LocalModeError(f"{uri}: the bucket {bucket!r} is not a bucket name")
    return inside(bucket_dir, key, what=f"{uri}: the key")


def _rebase(value: str, base: Path) -> str:
    if value == CONTAINER_BASE or value.startswith(f"{CONTAINER_BASE}/"):
        return str(base) + value[len(CONTAINER_BASE) :]
    return value


def _local_path(value: str, base: Path, what: str) -> Path:
    """A LocalPath (/opt/ml/processing/...) as a folder of the host's tree `base`, never outside."""
    if not value.startswith(f"{CONTAINER_BASE}/"):
        raise LocalModeError(f"{what}: {value!r}: must be under {CONTAINER_BASE}/processing/")
    return strictly_inside(base, value[len(CONTAINER_BASE) :], what=what)


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.name)


def _fetch_input(
    entry: Mapping[str, Any], target: Path, s3_root: Path, local_paths: Mapping[str, Path]
) -> None:
    name = str(entry["InputName"])
    uri = str(entry["S3Input"]["S3Uri"])
    source = local_paths[name] if name in local_paths else stand_in_path(s3_root, uri)
    if source.exists():
        _copy(source, target)
        return
    if entry["S3Input"].get("S3DataType", "S3Prefix") != "S3Prefix":
        raise LocalModeError(f"processing input '{name}': local mode reads S3Prefix inputs only")

    # An S3Prefix names every object under it (a single object's key is a prefix of itself).
    download_prefix(uri, target, what=f"processing input '{name}'", hint=f"or put the data at {source}")


def _upload_continuously(
    outputs: list[tuple[Mapping[str, Any], Path]], job_dir: Path, hosts: list[str], stop: threading.Event
) -> None:
    continuous = [(out, target) for out, target in outputs if out.get("S3UploadMode") == "Continuous"]
    while continuous and not stop.wait(CONTINUOUS_UPLOAD_SECONDS):
        for out, target in continuous:
            for host in hosts:
                source = _local_path(str(out["LocalPath"]), job_dir / host, "S3Output.LocalPath")
                try:
                    _copy(source, target)
                except OSError:  # a file the command is replacing right now: next round
                    continue


class ProcessingFailed(LocalModeError):
    """The processing command could not start or did not succeed; `output`: its last lines."""

    def __init__(self, cause: str, output: list[str]) -> None:
        super().__init__(cause, kind="AlgorithmError")
        self.output = output


def _job_dir(workdir: Path, name: str) -> Path:
    root = workdir / "processing"
    job_dir = strictly_inside(root, name, what="ProcessingJobName")
    if job_dir.parent != Path(os.path.abspath(root)):
        raise LocalModeError(f"ProcessingJobName: {name!r}: not a job name")
    return job_dir


@dataclass(frozen=True)
class _JobLayout:
    """Where a processing job's hosts, logs and outputs live, every path checked up front."""

    name: str
    job_dir: Path
    s3_root: Path
    hosts: list[str]
    # Each ProcessingOutput's entry, its S3Output, and its folder in the S3 stand-in.
    outputs: list[tuple[Mapping[str, Any], Mapping[str, Any], Path]]

    @property
    def first_log(self) -> Path:
        return self.job_dir / "logs" / f"{self.hosts[0]}.log"


def _checked_layout(request: Mapping[str, Any], workdir: Path) -> _JobLayout:
    """The job's layout; every path the request names is checked before anything is removed,
    written or started."""
    name = str(request["ProcessingJobName"])
    job_dir = _job_dir(workdir, name)
    s3_root = workdir / "s3"
    outputs = [
        (entry, entry["S3Output"], stand_in_path(s3_root, str(entry["S3Output"]["S3Uri"])))
        for entry in request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    ]
    count = int(request["ProcessingResources"]["ClusterConfig"]["InstanceCount"])
    hosts = [f"algo-{i}" for i in range(1, count + 1)]
    for _, out, _ in outputs:
        _local_path(str(out["LocalPath"]), job_dir / hosts[0], "S3Output.LocalPath")
    for entry in request.get("ProcessingInputs", []):
        _local_path(str(entry["S3Input"]["LocalPath"]), job_dir / hosts[0], "S3Input.LocalPath")
    return _JobLayout(name=name, job_dir=job_dir, s3_root=s3_root, hosts=hosts, outputs=outputs)


def _prepare_host(
    request: Mapping[str, Any],
    layout: _JobLayout,
    host: str,
    local_paths: Mapping[str, Path],
    python: str,
) -> ProcessSpec:
    """Lay out one host's /opt/ml (config files, downloaded inputs, empty output folders) and
    say how to start its command there."""
    base = layout.job_dir / host
    config_dir = base / "config"
    config_dir.mkdir(parents=True)
    description = {
        "ProcessingJobArn": f"arn:aws:sagemaker:local:000000000000:processing-job/{layout.name}",
        **request,
    }
    (config_dir / "processingjobconfig.json").write_text(json.dumps(description, indent=2))
    (config_dir / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": layout.hosts}))
    for entry in request.get("ProcessingInputs", []):
        target = _local_path(str(entry["S3Input"]["LocalPath"]), base, "S3Input.LocalPath")
        _fetch_input(entry, target, layout.s3_root, local_paths)
    for _, out, _ in layout.outputs:
        _local_path(str(out["LocalPath"]), base, "S3Output.LocalPath").mkdir(parents=True, exist_ok=True)
    app = request["AppSpecification"]
    argv = [
        _rebase(a, base) for a in [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
    ]
    if argv and Path(argv[0]).name in ("python", "python3"):
        argv[0] = python
    env = {**os.environ, **request.get("Environment", {}), "SAGEMAKER_BASE_DIR": str(base)}
    return ProcessSpec(host=host, argv=argv, env=env, cwd=base, name="processing")


def _launch_host(
    spec: ProcessSpec, job_name: str, run_id: str, on_line: Callable[[str, str], None]
) -> RunningProcess:
    """Start one host's command; ProcessingFailed when it cannot be started."""
    try:
        return launch(spec, run_id, on_line)
    except OSError as exc:
        command = spec.argv[0] if spec.argv else "(none)"
        raise ProcessingFailed(
            f"processing job {job_name}: cannot start the processing command {command!r} on {spec.host}: "
            f"{exc.strerror or exc}",
            [],
        ) from None


def _run_commands(
    request: Mapping[str, Any],
    layout: _JobLayout,
    local_paths: Mapping[str, Path],
    python: str,
    log_sink: Callable[[str, str], None] | None,
    stop: threading.Event | None,
    grace_seconds: float,
) -> list[RunningProcess]:
    """Start every host's command, upload Continuous outputs while they run, and return them
    ended: finished, stopped, or swept after a signal or an error."""
    run_id = f"processing-{layout.name}-{uuid.uuid4().hex[:8]}"
    procs: list[RunningProcess] = []
    logs: dict[str, IO[str]] = {}
    finished = threading.Event()
    outputs_to = [(out, target) for _, out, target in layout.outputs]
    try:
        for host in layout.hosts:
            spec = _prepare_host(request, layout, host, local_paths, python)
            logs[host] = (layout.job_dir / "logs" / f"{host}.log").open("w", encoding="utf-8")
            procs.append(_launch_host(spec, layout.name, run_id, _line_writer(logs, log_sink)))
        uploader = threading.Thread(
            target=_upload_continuously,
            args=(outputs_to, layout.job_dir, layout.hosts, finished),
            daemon=True,
        )
        uploader.start()
        while any(p.poll() is None for p in procs) and not (stop is not None and stop.is_set()):
            time.sleep(0.1)
    finally:
        finished.set()
        # Whatever ends the wait (the commands, a stop, a signal, an error), nothing they started
        # is left: SIGTERM, `grace_seconds`, SIGKILL, to their groups and every marked process.
        stop_all(procs, run_id, grace_seconds=grace_seconds)
        for log in logs.values():
            log.close()
    uploader.join()
    return procs


def _collect_outputs(layout: _JobLayout, failed: int) -> tuple[dict[str, Path], dict[str, Path]]:
    """(uploaded, staged): every output uploaded to the S3 stand-in when the job succeeded; the
    staged ones add, for a failed job, the Continuous outputs uploaded while it ran."""
    outputs: dict[str, Path] = {}
    if failed == 0:
        # Each host's output directory is uploaded under the same S3 prefix, as SageMaker does.
        # An upload adds or replaces objects and removes none (S3 PutObject), so other objects
        # under the prefix, or in the bucket when the destination is its root, stay.
        for entry, out, target in layout.outputs:
            target.mkdir(parents=True, exist_ok=True)
            for host in layout.hosts:
                _copy(_local_path(str(out["LocalPath"]), layout.job_dir / host, "S3Output.LocalPath"), target)
            outputs[str(entry["OutputName"])] = target
    staged = dict(outputs)
    if failed != 0:
        for entry, out, target in layout.outputs:
            if out.get("S3UploadMode") == "Continuous" and target.is_dir():
                staged[str(entry["OutputName"])] = target
    return outputs, staged


def run_processing_locally(
    request: Mapping[str, Any],
    *,
    workdir: Path,
    local_paths: Mapping[str, Path] | None = None,
    python: str = sys.executable,
    log_sink: Callable[[str, str], None] | None = None,
    stop: threading.Event | None = None,
    grace_seconds: float = STOP_GRACE_SECONDS,
) -> LocalProcessingResult:
    """Run a CreateProcessingJob request's container command on every simulated host.

    `local_paths`: input name -> local file or directory (the code input's local script, data
    given on the command line); others come from the S3 stand-in or S3. The command's
    `python`/`python3` is this interpreter (local mode runs no container image). Setting
    `stop` terminates the commands (StopProcessingJob); the job then ends Failed here and the
    caller reports it Stopped. However this returns (a signal turned into KeyboardInterrupt
    included), every process the commands started is ended: each runs in a session of its own
    with a run marker, swept by dtrain.local.processes (and by its reaper if dtrain is killed).
    A command that cannot be started raises ProcessingFailed.
    """

    layout = _checked_layout(request, workdir)
    if layout.job_dir.exists():  # this job's own tree, from an earlier run of the same job name
        shutil.rmtree(layout.job_dir)
    (layout.job_dir / "logs").mkdir(parents=True)
    started = time.monotonic()
    procs = _run_commands(request, layout, local_paths or {}, python, log_sink, stop, grace_seconds)
    failed = next((c for c in (p.popen.returncode for p in procs) if c != 0), 0)
    outputs, staged = _collect_outputs(layout, failed)
    return LocalProcessingResult(
        job_name=layout.name,
        status="Completed" if failed == 0 else "Failed",
        exit_code=failed,
        seconds=time.monotonic() - started,
        outputs=outputs,
        log=layout.first_log,
        failure_reason=None if failed == 0 else f"AlgorithmError: the processing command exited {failed}",
        staged=staged,
        output_tail=[line for p in procs for line in p.last_lines],
    )


def _line_writer(
    logs: Mapping[str, IO[str]], log_sink: Callable[[str, str], None] | None
) -> Callable[[str, str], None]:
    def on_line(host: str, text: str) -> None:
        logs[host].write(text + "\n")
        logs[host].flush()
        if log_sink is not None:
            log_sink(f"{host}/processing", text)

    return on_line


def run_spec_processing(
    spec: Any,
    platform: Any,
    *,
    workdir: Path,
    python: str = sys.executable,
    local_paths: Mapping[str, Path] | None = None,
    log_sink: Callable[[str, str], None] | None = None,
    grace_seconds: float = STOP_GRACE_SECONDS,
) -> LocalProcessingResult:
    """Build the spec's CreateProcessingJob request and run it here; raise ProcessingFailed when
    its command fails, LocalModeError when it cannot run."""

    request = build_processing_job_request(spec, platform)
    paths: dict[str, Path] = dict(local_paths or {})
    code = local_code_path(spec)
    if code is not None:
        if not code.is_file():
            raise LocalModeError(f"processing.run.code: no such file ({code})")
        paths[CODE_INPUT_NAME] = code
    result = run_processing_locally(
        request,
        workdir=workdir,
        local_paths=paths,
        python=python,
        log_sink=log_sink,
        grace_seconds=grace_seconds,
    )
    if result.status != "Completed":
        raise ProcessingFailed(
            f"processing job {result.job_name} failed: {result.failure_reason} (log: {result.log})",
            result.output_tail,
        )
    return result


def processing_data_paths(spec: Any, data: dict[str, str]) -> dict[str, Path]:
    """`--data NAME=PATH` pairs naming a processing input, taken out of `data` (the rest are
    training channels)."""
    if spec.processing is None:
        return {}
    names = {i.input_name for i in spec.processing.inputs}
    return {k: Path(data.pop(k).removeprefix("file://")) for k in list(data) if k in names}


def run_before_training(
    spec: Any,
    platform: Any,
    *,
    workdir: Path,
    python: str,
    data_paths: Mapping[str, Path],
    log_sink: Any,
    grace_seconds: float = STOP_GRACE_SECONDS,
) -> dict[str, Path]:
    """`dtrain local`'s hook: run the spec's processing job, then map each training channel that
    names a processing output to that output's directory in the local S3 stand-in."""
    if spec.processing is None:
        return {}
    done = run_spec_processing(
        spec,
        platform,
        workdir=workdir,
        python=python,
        local_paths=data_paths,
        log_sink=log_sink,
        grace_seconds=grace_seconds,
    )
    return {channel: done.outputs[output] for channel, output in spec.processing_channels.items()}
