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
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dtrain.local.errors import LocalModeError

CONTAINER_BASE = "/opt/ml"
CONTINUOUS_UPLOAD_SECONDS = 0.5


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


def stand_in_path(s3_root: Path, uri: str) -> Path:
    parsed = urlparse(uri)
    return s3_root / parsed.netloc / parsed.path.lstrip("/")


def _rebase(value: str, base: Path) -> str:
    if value == CONTAINER_BASE or value.startswith(f"{CONTAINER_BASE}/"):
        return str(base) + value[len(CONTAINER_BASE) :]
    return value


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
    from dtrain.local.s3 import download_prefix

    # An S3Prefix names every object under it (a single object's key is a prefix of itself).
    download_prefix(uri, target, what=f"processing input '{name}'", hint=f"or put the data at {source}")


def _upload_continuously(
    request: Mapping[str, Any], job_dir: Path, hosts: list[str], s3_root: Path, stop: threading.Event
) -> None:
    continuous = [
        o["S3Output"]
        for o in request.get("ProcessingOutputConfig", {}).get("Outputs", [])
        if o["S3Output"].get("S3UploadMode") == "Continuous"
    ]
    while continuous and not stop.wait(CONTINUOUS_UPLOAD_SECONDS):
        for out in continuous:
            target = stand_in_path(s3_root, str(out["S3Uri"]))
            for host in hosts:
                source = Path(_rebase(str(out["LocalPath"]), job_dir / host))
                try:
                    _copy(source, target)
                except OSError:  # a file the command is replacing right now: next round
                    continue


def run_processing_locally(
    request: Mapping[str, Any],
    *,
    workdir: Path,
    local_paths: Mapping[str, Path] | None = None,
    python: str = sys.executable,
    log_sink: Callable[[str, str], None] | None = None,
    stop: threading.Event | None = None,
) -> LocalProcessingResult:
    """Run a CreateProcessingJob request's container command on every simulated host.

    `local_paths`: input name -> local file or directory (the code input's local script, data
    given on the command line); others come from the S3 stand-in or S3. The command's
    `python`/`python3` is this interpreter (local mode runs no container image). Setting
    `stop` terminates the commands (StopProcessingJob); the job then ends Failed here and the
    caller reports it Stopped.
    """
    name = str(request["ProcessingJobName"])
    job_dir = workdir / "processing" / name
    s3_root = workdir / "s3"
    if job_dir.exists():
        shutil.rmtree(job_dir)
    count = int(request["ProcessingResources"]["ClusterConfig"]["InstanceCount"])
    hosts = [f"algo-{i}" for i in range(1, count + 1)]
    (job_dir / "logs").mkdir(parents=True)
    started = time.monotonic()
    procs: list[tuple[str, subprocess.Popen[str], Path]] = []
    for host in hosts:
        base = job_dir / host
        config_dir = base / "config"
        config_dir.mkdir(parents=True)
        description = {
            "ProcessingJobArn": f"arn:aws:sagemaker:local:000000000000:processing-job/{name}",
            **request,
        }
        (config_dir / "processingjobconfig.json").write_text(json.dumps(description, indent=2))
        (config_dir / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
        for entry in request.get("ProcessingInputs", []):
            target = Path(_rebase(str(entry["S3Input"]["LocalPath"]), base))
            _fetch_input(entry, target, s3_root, local_paths or {})
        for out in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            Path(_rebase(str(out["S3Output"]["LocalPath"]), base)).mkdir(parents=True, exist_ok=True)
        app = request["AppSpecification"]
        argv = [
            _rebase(a, base)
            for a in [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
        ]
        if argv and Path(argv[0]).name in ("python", "python3"):
            argv[0] = python
        env = {**os.environ, **request.get("Environment", {}), "SAGEMAKER_BASE_DIR": str(base)}
        log = job_dir / "logs" / f"{host}.log"
        proc = subprocess.Popen(
            argv, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        procs.append((host, proc, log))
    finished = threading.Event()
    uploader = threading.Thread(
        target=_upload_continuously, args=(request, job_dir, hosts, s3_root, finished), daemon=True
    )
    uploader.start()
    if stop is not None:
        threading.Thread(target=_terminate_on, args=(stop, finished, procs), daemon=True).start()
    codes: list[int] = []
    for host, proc, log in procs:
        assert proc.stdout is not None
        with log.open("w", encoding="utf-8") as f:
            for line in proc.stdout:
                f.write(line)
                if log_sink is not None:
                    log_sink(f"{host}/processing", line.rstrip("\n"))
        codes.append(proc.wait())
    finished.set()
    uploader.join()
    failed = next((c for c in codes if c != 0), 0)
    outputs: dict[str, Path] = {}
    if failed == 0:
        # Each host's output directory is uploaded under the same S3 prefix, as SageMaker does.
        for out in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            target = stand_in_path(s3_root, str(out["S3Output"]["S3Uri"]))
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for host in hosts:
                _copy(Path(_rebase(str(out["S3Output"]["LocalPath"]), job_dir / host)), target)
            outputs[str(out["OutputName"])] = target
    staged = dict(outputs)
    if failed != 0:
        for out in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            target = stand_in_path(s3_root, str(out["S3Output"]["S3Uri"]))
            if out["S3Output"].get("S3UploadMode") == "Continuous" and target.is_dir():
                staged[str(out["OutputName"])] = target
    return LocalProcessingResult(
        job_name=name,
        status="Completed" if failed == 0 else "Failed",
        exit_code=failed,
        seconds=time.monotonic() - started,
        outputs=outputs,
        log=procs[0][2],
        failure_reason=None if failed == 0 else f"AlgorithmError: the processing command exited {failed}",
        staged=staged,
    )


def _terminate_on(
    stop: threading.Event, finished: threading.Event, procs: list[tuple[str, subprocess.Popen[str], Path]]
) -> None:
    while not finished.is_set():
        if stop.wait(0.2):
            for _, proc, _ in procs:
                if proc.poll() is None:
                    proc.terminate()
            return


def run_spec_processing(
    spec: Any,
    platform: Any,
    *,
    workdir: Path,
    python: str = sys.executable,
    local_paths: Mapping[str, Path] | None = None,
    log_sink: Callable[[str, str], None] | None = None,
) -> LocalProcessingResult:
    """Build the spec's CreateProcessingJob request and run it here; raise LocalModeError on failure."""
    from dtrain.processing_request import CODE_INPUT_NAME, build_processing_job_request, local_code_path

    request = build_processing_job_request(spec, platform)
    paths: dict[str, Path] = dict(local_paths or {})
    code = local_code_path(spec)
    if code is not None:
        if not code.is_file():
            raise LocalModeError(f"processing.run.code: no such file ({code})")
        paths[CODE_INPUT_NAME] = code
    result = run_processing_locally(
        request, workdir=workdir, local_paths=paths, python=python, log_sink=log_sink
    )
    if result.status != "Completed":
        raise LocalModeError(
            f"processing job {result.job_name} failed: {result.failure_reason} (log: {result.log})"
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
    spec: Any, platform: Any, *, workdir: Path, python: str, data_paths: Mapping[str, Path], log_sink: Any
) -> dict[str, Path]:
    """`dtrain local`'s hook: run the spec's processing job, then map each training channel that
    names a processing output to that output's directory in the local S3 stand-in."""
    if spec.processing is None:
        return {}
    done = run_spec_processing(
        spec, platform, workdir=workdir, python=python, local_paths=data_paths, log_sink=log_sink
    )
    return {channel: done.outputs[output] for channel, output in spec.processing_channels.items()}
