"""Local validation before anything is sent: the core's spec rules, then the request builder.

Errors are printed exactly as `dtrain validate` prints them (one `field: value: rule` per line
on stderr) and end the command with exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dtrain.jobspec.errors import SpecError, SpecErrors, as_error_list
from dtrain.jobspec.naming import MAX_JOB_NAME_LENGTH
from dtrain.jobspec.placeholder import placeholder_platform
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import load_spec, parse_spec, requirements_note
from dtrain.orchestration.execution_plan import planned_state_of_requests
from dtrain.orchestration.processing import build_processing_request
from dtrain.remote.errors import PlatformNotFound, UsageError
from dtrain.requests.execution_requests import check_against_platform as check_requests_against_platform
from dtrain.requests.execution_requests import execution_requests


class SpecRejected(UsageError):
    """The spec failed validation; its errors were already printed."""


def _report(exc: Exception) -> SpecRejected:
    errors = as_error_list(exc) if isinstance(exc, SpecError | SpecErrors) else []
    for error in errors:
        print(str(error), file=sys.stderr)
    return SpecRejected(f"the job spec has {len(errors)} error(s); nothing was submitted")


def load_checked_spec(path: Path) -> Any:
    """The parsed JobSpec, or SpecRejected after printing every error."""

    if not path.is_file():
        raise UsageError(f"{path}: no such job spec file")
    try:
        spec = load_spec(path)
    except (SpecError, SpecErrors) as exc:
        raise _report(exc) from exc

    note = requirements_note(spec)
    if note is not None:
        print(f"note: {note}", file=sys.stderr)
    return spec


def check_against_platform(raw_spec: Mapping[str, Any], settings_json: str | None, job_name: str) -> None:
    """Build every request the platform would build, to refuse what it would refuse.

    With the stack's `PlatformSettings` output, file-system channels and packaged image names
    resolve exactly as the Submit Lambda resolves them, and every S3 location of the request
    must be one the stack's execution role reaches (dtrain.jobspec.s3_reach); without it, against the
    same placeholder platform `dtrain validate` uses, so submit refuses at least what validate does.
    """

    if settings_json:
        try:
            settings = PlatformSettings.from_json(settings_json)
        except (SpecError, SpecErrors) as exc:
            # The stack's own output is broken: a platform problem (exit 3), not the user's spec.
            raise PlatformNotFound(f"the stack's PlatformSettings output is not usable: {exc}") from exc
    else:
        settings = placeholder_platform()
    try:
        # SageMaker job names hold 63 characters; the Lambda derives the real one from the execution.
        stand_in = job_name[:MAX_JOB_NAME_LENGTH].rstrip("-")
        spec = parse_spec(raw_spec)
        if spec.processing is not None:
            # The processing step's request, as Prepare builds it (a local script must have been
            # uploaded by now: the platform reads it from S3).

            build_processing_request(raw_spec, settings, stand_in)
        if spec.deploy is not None or spec.transform is not None:
            # What the state machine's Prepare refuses of a deploy / transform block, refused here
            # before anything trains (one block per execution; a block's own inference code in S3 by now).
            from dtrain.orchestration.hosting import hosting_plan

            hosting_plan(raw_spec, settings)
        # Every request of the execution (each sweep item's, the processing and hosting ones);
        # with the stack's settings, the role, the images and every S3 location checked.
        requests = execution_requests(spec, settings, job_name=stand_in, region=settings.region)
        if settings_json:
            check_requests_against_platform(spec, requests, settings)
        # A sweep whose Step Functions state would pass 256 KiB: Prepare's own check, before upload.
        planned_state_of_requests(raw_spec, requests, output_uri=settings.output_s3_uri)
    except (SpecError, SpecErrors) as exc:
        raise _report(exc) from exc
