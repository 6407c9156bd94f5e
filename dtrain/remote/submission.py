"""The submit flow: validate, package code, start the execution once, optionally follow it."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from dtrain.remote.aws import error_code, translate_aws_errors
from dtrain.remote.cli_support import poll_seconds, print_json
from dtrain.remote.console_links import execution_link
from dtrain.remote.context import RemoteContext
from dtrain.remote.errors import EXIT_JOB, EXIT_OK, JobConflict
from dtrain.remote.execution_names import canonical_json, check_execution_name, execution_name_for
from dtrain.remote.job_lookup import ResolvedJob, describe_execution, refresh
from dtrain.remote.source_upload import (
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


def submit(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = load_checked_spec(spec_path)
    submitted: dict[str, Any] = copy.deepcopy(dict(spec.raw))
    estimator = submitted.get("estimator")
    tarball: SourceTarball | None = None
    if isinstance(estimator, dict):
        tarball = pack_spec_code(estimator, spec_path)
        if tarball is not None and tarball.skipped_note:
            print(f"dtrain submit: note: {tarball.skipped_note}", file=sys.stderr)
    script = read_processing_script(submitted, spec_path)
    inference = pack_inference_code(submitted, spec_path)
    inference_tarball = inference[1] if inference is not None else None
    digests = [d.digest for d in (tarball, script, inference_tarball) if d is not None]
    name = (
        check_execution_name(args.name)
        if args.name
        else execution_name_for(spec.raw, source_digest=":".join(digests) if digests else None)
    )

    context = RemoteContext.connect(stack_name=args.stack, region=args.region)
    platform = context.platform
    source_uri = None
    if tarball is not None:
        assert isinstance(estimator, dict)
        source_uri = f"s3://{platform.artifacts_bucket}/{source_key(name)}"
        # The Lambda cannot read this machine: the execution input names the uploaded tarball
        # (for a lone entry point too: SDK v2 then tars the script alone, at the tarball's root).
        if estimator.get("source_dir") is None:
            estimator["entry_point"] = Path(str(estimator["entry_point"])).name
        estimator["source_dir"] = source_uri
    script_uri = None
    if script is not None:
        # The processing job reads its script from S3, as SDK v2 uploads a local `code` file.
        script_uri = f"s3://{platform.artifacts_bucket}/{processing_code_key(name, script.path)}"
        submitted["processing"]["run"]["code"] = script_uri
    inference_uri = None
    if inference is not None:
        # The model phase repacks the trained model with this code (SDK v2 repacks on the
        # caller's machine; the model exists only after training): it reads it from S3.
        block = submitted[inference[0]]
        inference_uri = f"s3://{platform.artifacts_bucket}/{inference_code_key(name)}"
        if block.get("source_dir") is None:  # a lone script: at the tarball's root, as SDK v2
            block["entry_point"] = Path(str(block["entry_point"])).name
        block["source_dir"] = inference_uri
    check_against_platform(submitted, platform.platform_settings_json, name)

    arn = platform.execution_arn(name)
    existing = describe_execution(context, arn)
    already_running = existing is not None
    if existing is not None:
        _duplicate(context, existing, submitted)
    else:
        if tarball is not None:
            with translate_aws_errors(f"upload the source to s3://{platform.artifacts_bucket}"):
                upload_source(context.s3, platform.artifacts_bucket, source_key(name), tarball)
        if script is not None:
            with translate_aws_errors(f"upload the processing script to s3://{platform.artifacts_bucket}"):
                key = processing_code_key(name, script.path)
                upload_processing_script(context.s3, platform.artifacts_bucket, key, script)
        if inference_tarball is not None:
            with translate_aws_errors(f"upload the inference code to s3://{platform.artifacts_bucket}"):
                key = inference_code_key(name)
                upload_source(context.s3, platform.artifacts_bucket, key, inference_tarball)
        with translate_aws_errors(
            f"start an execution of {platform.state_machine_arn}",
            passthrough=lambda code: code == "ExecutionAlreadyExists",
        ):
            try:
                context.stepfunctions.start_execution(
                    stateMachineArn=platform.state_machine_arn, name=name, input=canonical_json(submitted)
                )
            except Exception as exc:
                if error_code(exc) != "ExecutionAlreadyExists":
                    raise
                # Someone started it between our look and our start: same rules as above.
                raced = describe_execution(context, arn)
                if raced is None:
                    raise
                _duplicate(context, raced, submitted)
                already_running = True

    resolved = refresh(context, ResolvedJob(query=name, execution_arn=arn))
    execution = resolved.execution or {}
    report: dict[str, Any] = {
        "execution_name": name,
        "execution_arn": arn,
        "status": execution.get("status"),
        "already_submitted": already_running,
        "jobs": resolved.job_names,
        "source_dir": source_uri,
        "processing_code": script_uri,
        "inference_code": inference_uri,
        "console_url": execution_link(context.region, arn),
        "stack": platform.stack_name,
    }
    if not args.json:
        if already_running:
            print(
                f"already submitted: execution {name} is {execution.get('status')}; not starting a second job"
            )
        else:
            print(f"submitted execution {name}")
        lines = [("execution", arn), ("console", report["console_url"])]
        if source_uri:
            lines.append(("code", f"{source_uri} ({tarball.files if tarball else 0} files)"))
        if script_uri:
            lines.append(("processing", script_uri))
        if inference_uri:
            lines.append(("inference", inference_uri))
        for job in resolved.job_names:
            lines.append(
                ("job", f"{job}: {resolved.training_jobs.get(job, {}).get('TrainingJobStatus', '?')}")
            )
        for key, value in lines:
            print(f"  {key.ljust(9)} {value}")
        if not args.wait:
            print(f"  follow    dtrain status {name}  |  dtrain logs {name} --follow")
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
