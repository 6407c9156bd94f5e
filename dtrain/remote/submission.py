"""The submit flow: validate, package code, start the execution once, optionally follow it."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtrain.jobspec.digests import EXECUTION_FORM, canonical_json
from dtrain.remote.aws import error_code, translate_aws_errors
from dtrain.remote.cli_support import poll_seconds, print_json
from dtrain.remote.console_links import execution_link
from dtrain.remote.context import RemoteContext
from dtrain.remote.errors import EXIT_JOB, EXIT_OK, JobConflict
from dtrain.remote.execution_names import check_execution_name, execution_name_for
from dtrain.remote.job_lookup import ResolvedJob, describe_execution, refresh
from dtrain.remote.source_upload import (
    ProcessingScript,
    SourceTarball,
    inference_code_key,
    pack_inference_code,
    pack_spec_code,
    processing_code_key,
    read_processing_script,
    source_key,
    upload_processing_script,
    upload_source,
)
from dtrain.remote.spec_check import check_against_platform, load_checked_spec


def _same_spec(execution: dict[str, Any], submitted: dict[str, Any]) -> bool:
    try:
        return bool(json.loads(execution.get("input") or "null") == submitted)
    except ValueError:
        return False


def _duplicate(context: RemoteContext, execution: dict[str, Any], submitted: dict[str, Any]) -> None:
    """Refuse (exit 4) unless it is the same spec, still running: then it is simply shown."""
    name = execution.get("name")
    status = execution.get("status")
    arn = str(execution.get("executionArn"))
    link = execution_link(context.region, arn)
    if status != "RUNNING":
        raise JobConflict(
            f"{name} already ran: execution {arn} is {status}; execution and training job names "
            f"are single-use, so give the spec a new job_name (or pass --name) to run it again. "
            f"Details: dtrain status {name} / {link}"
        )
    if not _same_spec(execution, submitted):
        raise JobConflict(
            f"an execution named {name} is running with a different spec ({arn}); give the new "
            f"spec its own job_name (or pass --name), or stop the running one (dtrain stop {name})"
        )


@dataclass(frozen=True)
class _LocalCode:
    """The spec's code found on this machine and packed, before anything is uploaded."""

    tarball: SourceTarball | None  # the estimator's source_dir or entry point
    script: ProcessingScript | None  # the processing job's local `code`
    inference: tuple[str, SourceTarball] | None  # (the model/deploy block, its packed code)

    @property
    def inference_tarball(self) -> SourceTarball | None:
        return self.inference[1] if self.inference is not None else None

    @property
    def digests(self) -> list[str]:
        return [d.digest for d in (self.tarball, self.script, self.inference_tarball) if d is not None]


@dataclass(frozen=True)
class _CodeUris:
    """Where the execution input says each piece of local code is in S3 (None: none of it)."""

    source: str | None
    processing: str | None
    inference: str | None


def _pack_local_code(submitted: dict[str, Any], spec_path: Path) -> _LocalCode:
    estimator = submitted.get("estimator")
    tarball: SourceTarball | None = None
    if isinstance(estimator, dict):
        tarball = pack_spec_code(estimator, spec_path)
        if tarball is not None and tarball.skipped_note:
            print(f"dtrain submit: note: {tarball.skipped_note}", file=sys.stderr)
    script = read_processing_script(submitted, spec_path)
    inference = pack_inference_code(submitted, spec_path)
    return _LocalCode(tarball=tarball, script=script, inference=inference)


def _point_at_uploads(
    submitted: dict[str, Any], code: _LocalCode, bucket: str, name: str, prefix: str = ""
) -> _CodeUris:
    """Rewrite the execution input's local code paths to the S3 URIs the code is uploaded to
    (under `prefix`: a team's `teams/<team>/`, where its scientists' policy lets it upload)."""
    source_uri = None
    if code.tarball is not None:
        estimator = submitted["estimator"]
        source_uri = f"s3://{bucket}/{prefix}{source_key(name)}"
        # The Lambda cannot read this machine: the execution input names the uploaded tarball
        # (for a lone entry point too: SDK v2 then tars the script alone, at the tarball's root).
        if estimator.get("source_dir") is None:
            estimator["entry_point"] = Path(str(estimator["entry_point"])).name
        estimator["source_dir"] = source_uri
    script_uri = None
    if code.script is not None:
        # The processing job reads its script from S3, as SDK v2 uploads a local `code` file.
        script_uri = f"s3://{bucket}/{prefix}{processing_code_key(name, code.script.path)}"
        submitted["processing"]["run"]["code"] = script_uri
    inference_uri = None
    if code.inference is not None:
        # The model phase repacks the trained model with this code (SDK v2 repacks on the
        # caller's machine; the model exists only after training): it reads it from S3.
        block = submitted[code.inference[0]]
        inference_uri = f"s3://{bucket}/{prefix}{inference_code_key(name)}"
        if block.get("source_dir") is None:  # a lone script: at the tarball's root, as SDK v2
            block["entry_point"] = Path(str(block["entry_point"])).name
        block["source_dir"] = inference_uri
    return _CodeUris(source=source_uri, processing=script_uri, inference=inference_uri)


def _upload_code(context: RemoteContext, code: _LocalCode, name: str) -> None:
    bucket, prefix = context.platform.artifacts_bucket, context.platform.key_prefix
    if code.tarball is not None:
        with translate_aws_errors(f"upload the source to s3://{bucket}"):
            upload_source(context.s3, bucket, prefix + source_key(name), code.tarball)
    if code.script is not None:
        with translate_aws_errors(f"upload the processing script to s3://{bucket}"):
            key = prefix + processing_code_key(name, code.script.path)
            upload_processing_script(context.s3, bucket, key, code.script)
    if code.inference_tarball is not None:
        with translate_aws_errors(f"upload the inference code to s3://{bucket}"):
            upload_source(context.s3, bucket, prefix + inference_code_key(name), code.inference_tarball)


def _start_once(
    context: RemoteContext, name: str, arn: str, submitted: dict[str, Any], code: _LocalCode
) -> bool:
    """Upload the code and start the execution unless it exists; True when it already ran or
    runs (the same spec, still running: anything else is refused by _duplicate)."""
    platform = context.platform
    existing = describe_execution(context, arn)
    if existing is not None:
        _duplicate(context, existing, submitted)
        return True
    _upload_code(context, code, name)
    with translate_aws_errors(
        f"start an execution of {platform.state_machine_arn}",
        passthrough=lambda aws_code: aws_code == "ExecutionAlreadyExists",
    ):
        try:
            context.stepfunctions.start_execution(
                stateMachineArn=platform.state_machine_arn,
                name=name,
                input=canonical_json(submitted, EXECUTION_FORM),
            )
        except Exception as exc:
            if error_code(exc) != "ExecutionAlreadyExists":
                raise
            # Someone started it between our look and our start: same rules as above.
            raced = describe_execution(context, arn)
            if raced is None:
                raise
            _duplicate(context, raced, submitted)
            return True
    return False


def _print_submitted(report: dict[str, Any], resolved: ResolvedJob, code: _LocalCode, *, wait: bool) -> None:
    name = report["execution_name"]
    if report["already_submitted"]:
        print(f"already submitted: execution {name} is {report['status']}; not starting a second job")
    else:
        print(f"submitted execution {name}")
    lines = [("execution", report["execution_arn"]), ("console", report["console_url"])]
    if report["source_dir"]:
        lines.append(("code", f"{report['source_dir']} ({code.tarball.files if code.tarball else 0} files)"))
    if report["processing_code"]:
        lines.append(("processing", report["processing_code"]))
    if report["inference_code"]:
        lines.append(("inference", report["inference_code"]))
    for job in resolved.job_names:
        lines.append(("job", f"{job}: {resolved.training_jobs.get(job, {}).get('TrainingJobStatus', '?')}"))
    for key, value in lines:
        print(f"  {key.ljust(9)} {value}")
    if not wait:
        print(f"  follow    dtrain status {name}  |  dtrain logs {name} --follow")


def submit(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = load_checked_spec(spec_path)
    submitted: dict[str, Any] = copy.deepcopy(dict(spec.raw))
    code = _pack_local_code(submitted, spec_path)
    digests = code.digests
    name = (
        check_execution_name(args.name)
        if args.name
        else execution_name_for(spec.raw, source_digest=":".join(digests) if digests else None)
    )

    context = RemoteContext.connect(
        stack_name=args.stack, region=args.region, team=getattr(args, "team", None)
    )
    platform = context.platform
    uris = _point_at_uploads(submitted, code, platform.artifacts_bucket, name, platform.key_prefix)
    check_against_platform(submitted, platform.platform_settings_json, name)

    arn = platform.execution_arn(name)
    already_running = _start_once(context, name, arn, submitted, code)

    resolved = refresh(context, ResolvedJob(query=name, execution_arn=arn))
    execution = resolved.execution or {}
    report: dict[str, Any] = {
        "execution_name": name,
        "execution_arn": arn,
        "status": execution.get("status"),
        "already_submitted": already_running,
        "jobs": resolved.job_names,
        "source_dir": uris.source,
        "processing_code": uris.processing,
        "inference_code": uris.inference,
        "console_url": execution_link(context.region, arn),
        "stack": platform.stack_name,
    }
    if not args.json:
        _print_submitted(report, resolved, code, wait=args.wait)
    if not args.wait:
        if args.json:
            print_json(report)
        return EXIT_OK
    return _wait(context, resolved, report, as_json=args.json)


def _wait(context: RemoteContext, resolved: ResolvedJob, report: dict[str, Any], *, as_json: bool) -> int:
    from dtrain.remote.job_summary import render_summary, summarize
    from dtrain.remote.progress import ExecutionFollower, make_renderer

    follower = ExecutionFollower(context, resolved)
    try:
        final = follower.follow(make_renderer(sys.stderr), poll_seconds=poll_seconds())
    except KeyboardInterrupt:
        # Only the watching stops: the job runs on in AWS, so say how to reach it again.
        name = report["execution_name"]
        print(
            f"\nstopped following; {name} keeps running: dtrain status {name} | dtrain stop {name}",
            file=sys.stderr,
        )
        raise
    summary = summarize(context.region, final)
    status = final.execution_status
    if as_json:
        print_json({"submitted": report, "result": summary})
    else:
        print(render_summary(summary))
    if status == "SUCCEEDED":
        return EXIT_OK
    execution = final.execution or {}
    detail = ": ".join(str(x) for x in (execution.get("error"), execution.get("cause")) if x)
    print(f"dtrain submit: execution {status}" + (f": {detail}" if detail else ""), file=sys.stderr)
    return EXIT_JOB
