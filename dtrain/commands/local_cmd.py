"""`dtrain local SPEC`: run a job spec on this machine with SageMaker's container contract.

The request is built by `build_training_job_request`, the Submit Lambda's own code, with
stand-in platform settings; dtrain.local then plays SageMaker with it (see dtrain/local/).
Exit codes: 0 completed, 1 failed, 2 bad spec or arguments, 130 interrupted (job stopped).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from dtrain.commands import bounded_int

DEFAULT_WORKDIR = Path(".dtrain")
# Every simulated host is a set of processes on THIS machine: past a few dozen, a typo
# (instance_count: 10000) would fork-bomb it rather than simulate anything useful.
MAX_SIMULATED_HOSTS = 32
MAX_PROCS_PER_HOST = 64


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run a job spec on this machine (no AWS, no Docker)",
        description=(
            "Run a job spec here: the same CreateTrainingJob request as in AWS, one /opt/ml-style "
            "tree per simulated host under WORKDIR/jobs/<job>/, and per host the image's own entry "
            "chain (its entry script, the SageMaker training toolkit's train, the launcher it picks). "
            "Re-running the same job resumes from its checkpoints."
        ),
    )
    parser.add_argument("spec", type=Path, help="job spec file (JSON or YAML)")
    parser.add_argument(
        "--hosts",
        type=bounded_int(1, MAX_SIMULATED_HOSTS),
        default=None,
        help=f"simulated hosts, 1..{MAX_SIMULATED_HOSTS} (default: instance_count)",
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="default: .dtrain")
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="CHANNEL=PATH",
        help="local directory (or file://) for a channel; repeatable",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="HP=VALUE",
        help="override a hyperparameter (VALUE is JSON if it parses, else a string); repeatable",
    )
    parser.add_argument("--job-name", default=None, help="job name (default: the spec's, else derived)")
    parser.add_argument(
        "--config", type=Path, default=None, help="local-mode config JSON (python per image, file systems)"
    )
    parser.add_argument(
        "--procs-per-host",
        type=bounded_int(1, MAX_PROCS_PER_HOST),
        default=None,
        help=f"processes per simulated host, 1..{MAX_PROCS_PER_HOST} (default 1 on CPU)",
    )
    view = parser.add_mutually_exclusive_group()
    view.add_argument("--live", dest="live", action="store_true", default=None, help="live progress view")
    view.add_argument("--no-live", dest="live", action="store_false", help="plain log lines")
    parser.set_defaults(func=handle)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    from dtrain.local.errors import LocalModeError

    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LocalModeError(f"{option} {item!r}: expected NAME=VALUE")
        pairs[key] = value
    return pairs


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _check_local_arguments(args: argparse.Namespace, request: Any, channel_paths: dict[str, Path]) -> None:
    """What local mode would otherwise find only after it started (or as an internal error)."""
    from dtrain.local.container_config import instance_count
    from dtrain.local.errors import LocalModeError

    hosts = args.hosts if args.hosts is not None else instance_count(request)
    if hosts > MAX_SIMULATED_HOSTS:
        raise LocalModeError(
            f"estimator.instance_count: {hosts}: local mode simulates at most {MAX_SIMULATED_HOSTS} hosts "
            "on one machine; pass --hosts N to simulate fewer"
        )
    workdir = Path(args.workdir)
    if workdir.exists() and not workdir.is_dir():
        raise LocalModeError(f"--workdir {workdir}: not a directory")
    channels = sorted(str(c["ChannelName"]) for c in request.get("InputDataConfig", []))
    for name, path in channel_paths.items():
        if name not in channels:
            known = ", ".join(channels) or "none"
            raise LocalModeError(f"--data {name}=...: the job has no channel {name!r}; its channels: {known}")
        if not path.exists():
            raise LocalModeError(f"--data {name}={path}: no such file or directory")


def _code_with_dependencies(spec: Any, code: Path, spec_path: Path, workdir: Path) -> Path:
    """The local code to copy; with SDK `dependencies`, the very tarball submit uploads, unpacked."""
    import io
    import tarfile

    from dtrain.remote.source_upload import pack_spec_code

    if not spec.estimator.dependencies:
        return code
    tarball = pack_spec_code(dict(spec.raw["estimator"]), spec_path)
    assert tarball is not None
    bundle = workdir / "code-bundles" / tarball.digest[:16]
    if not bundle.is_dir():
        with tarfile.open(fileobj=io.BytesIO(tarball.data), mode="r:gz") as archive:
            archive.extractall(bundle, filter="data")
    return bundle


def prepare_job(args: argparse.Namespace, log_sink: Any = None) -> Any:
    """Spec -> request -> LocalTrainingJob (not started). Raises SpecError(s) / LocalModeError."""
    from dtrain.local import LocalConfig, LocalTrainingJob
    from dtrain.local.platform import local_platform_settings
    from dtrain.local.processing_job import processing_data_paths
    from dtrain.requests.training_request import build_training_job_request, local_code_upload

    spec = _spec_with_overrides(args)
    platform = local_platform_settings()
    request = build_training_job_request(spec, platform, job_name=args.job_name)
    data = _pairs(args.data, "--data")
    processing_paths = processing_data_paths(spec, data)  # --data for processing inputs
    channel_paths = {k: Path(v.removeprefix("file://")) for k, v in data.items()}
    _check_local_arguments(args, request, channel_paths)
    upload = local_code_upload(spec, request)
    config = LocalConfig.load(args.config)
    if spec.processing is not None:  # processing first; its outputs feed the channels naming them
        produced = _run_processing(args, spec, platform, config, processing_paths, log_sink)
        channel_paths = {**produced, **channel_paths}
    if args.procs_per_host is not None:
        config = dataclasses.replace(config, processes_per_host=args.procs_per_host)
    workdir = Path(args.workdir)
    # Without a configured directory, a file system is a folder of the work dir.
    fs_mounts = {key: workdir / key for key in ("fsx", "efs") if key not in config.file_systems}
    return LocalTrainingJob(
        request,
        workdir=workdir,
        hosts=args.hosts,
        channel_paths=channel_paths,
        code_dir=(
            _code_with_dependencies(spec, upload.local_path, Path(args.spec), workdir)
            if upload is not None
            else None
        ),
        fs_mounts=fs_mounts,
        log_sink=log_sink,
        config=config,
    )


def _spec_with_overrides(args: argparse.Namespace) -> Any:
    """The spec file, its estimator's hyperparameters updated by `--set KEY=VALUE`."""
    from dtrain.jobspec.spec import load_spec, parse_spec, requirements_note

    spec = load_spec(args.spec)
    requirements = requirements_note(spec)
    if requirements is not None:
        print(f"note: {requirements}", file=sys.stderr)
    overrides = {k: _json_or_text(v) for k, v in _pairs(args.set, "--set").items()}
    if overrides:
        raw = json.loads(json.dumps(dict(spec.raw)))
        raw.setdefault("estimator", {}).setdefault("hyperparameters", {}).update(overrides)
        spec = parse_spec(raw, spec_dir=spec.spec_dir)
    return spec


def _run_processing(
    args: argparse.Namespace,
    spec: Any,
    platform: Any,
    config: Any,
    processing_paths: dict[str, Path],
    log_sink: Any,
) -> dict[str, Path]:
    """The spec's processing job, run here; the training channels its outputs feed."""
    from dtrain.local.processing_job import run_before_training

    return run_before_training(
        spec,
        platform,
        workdir=Path(args.workdir),
        python=config.python_for(spec.processing.packaged_image),
        data_paths=processing_paths,
        log_sink=log_sink,
        grace_seconds=config.stop_grace_seconds,
    )


def handle(args: argparse.Namespace) -> int:
    import queue
    import signal

    from rich.console import Console

    from dtrain.local.run_tmpdir import run_tmpdir

    # soft_wrap: an error line stays one line (rich would wrap it at 80 columns when stderr
    # is a file or a pipe, and scripts read it line by line).
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    console = Console(highlight=False, soft_wrap=True)
    lines: queue.Queue[tuple[str, str]] = queue.Queue()

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM and a closed terminal (SIGHUP) stop the job as Ctrl-C does, from the processing
    # step on: every process ends, the summary is written. (Were dtrain killed outright, the
    # run's reaper ends them.)
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        # The run's processes write temporary files (torchrun's torchelastic_* folders) in a
        # folder of the run's own, removed however the run ends (dtrain/local/run_tmpdir.py).
        with run_tmpdir():
            return _prepare_and_run(args, err, console, lines)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _prepare_and_run(args: argparse.Namespace, err: Any, console: Any, lines: Any) -> int:
    from dtrain.jobspec.errors import SpecError, SpecErrors
    from dtrain.local.errors import LocalModeError
    from dtrain.local.processing_job import ProcessingFailed
    from dtrain.local.progress import follow_live, follow_plain, print_summary

    try:
        job = prepare_job(args, log_sink=lambda host, line: lines.put((host, line)))
    except (SpecError, SpecErrors) as exc:
        for error in getattr(exc, "errors", [exc]):
            err.print(f"error: {error}", markup=False)
        return 2
    except ProcessingFailed as exc:
        # Its output first (what it printed before it failed), then the one line saying so.
        while not lines.empty():
            host, line = lines.get_nowait()
            console.print(f"[{host}] {line}", markup=False)
        err.print(f"dtrain local: {exc.cause}", markup=False)
        return 1
    except LocalModeError as exc:
        err.print(f"error: {exc.cause}", markup=False)
        return 2
    except KeyboardInterrupt:
        err.print(
            "interrupted before training started (its processing job, if any, was stopped)", markup=False
        )
        return 130
    code_dir = getattr(job, "code_dir", None)
    if code_dir is not None and Path(code_dir).is_dir():
        from dtrain.jobspec.source_tree import collect_source_tree

        note = collect_source_tree(Path(code_dir)).skipped_note()
        if note:  # the same rule as submit's tarball: say what does not ship
            err.print(f"note: {note}", markup=False)

    live = console.is_terminal if args.live is None else args.live
    job.start()
    try:
        (follow_live if live else follow_plain)(job, lines, console)
    except KeyboardInterrupt:
        err.print(f"interrupted: stopping every process of {job.job_name}…")
        job.stop()
        print_summary(job.result(), err)
        return 130
    result = _labelled(job.wait(), job.request)
    print_summary(result, console if result.status == "Completed" else err)
    if result.status == "Completed":
        return 0
    print(f"dtrain local: {_why(result, job.request)}", file=sys.stderr)
    return 1


def _labelled(result: Any, request: Any) -> Any:
    """A job that failed before its launch (a channel it could not fetch...) has no launched
    distribution; the summary still names the one the request asked for, not "no distribution"."""
    import dataclasses

    from dtrain.local.environment import decode_hyperparameters, distribution_of, split_hyperparameters

    if result.distribution is not None:
        return result
    _, _, framework = split_hyperparameters(decode_hyperparameters(request.get("HyperParameters", {})))
    requested = distribution_of(framework)
    return dataclasses.replace(result, distribution=None if requested == "none" else requested)


def _why(result: Any, request: Any) -> str:
    """The last line: the failure reason, or why the job stopped. One line: the toolkit's own
    failure message (output/failure, SageMaker's FailureReason) spans several."""
    if result.failure_reason:
        return " ".join(str(result.failure_reason).split())
    if result.secondary_status == "MaxRuntimeExceeded":
        limit = request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        return (
            f"Stopped: the job ran past estimator.max_run ({limit} s, MaxRuntimeInSeconds); "
            "SageMaker stops it there too"
        )
    return str(result.status)
