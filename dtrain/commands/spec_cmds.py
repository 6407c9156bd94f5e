"""`dtrain validate | render | schema`: the job spec on the command line.

stdout stays machine-readable (the request JSON, the schema, the one-line summary); every
error goes to stderr as `field: value: rule`, one per line, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_SPEC_ERROR = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = subparsers.add_parser("validate", help="check a job spec; exit 2 listing every error")
    validate.add_argument("spec", help="job spec file (JSON or YAML)")
    validate.add_argument("--platform", metavar="FILE", help="platform settings JSON to check against")
    validate.add_argument(
        "--team",
        default=None,
        help="with --platform of a platform with teams: the team whose settings and guardrails apply "
        "(default: $DTRAIN_TEAM)",
    )
    validate.set_defaults(func=_validate)

    render = subparsers.add_parser(
        "render",
        help="print the CreateTrainingJob request for a job spec (with processing, sweep, deploy or "
        "transform blocks: every request the execution makes, in order, by operation)",
    )
    render.add_argument("spec", help="job spec file (JSON or YAML)")
    render.add_argument(
        "--platform", metavar="FILE", help="platform settings JSON (role, buckets, images...)"
    )
    render.add_argument("--team", default=None, help="as validate's --team")
    render.add_argument("--region", help="AWS region (default: the platform's)")
    render.add_argument("--job-name", dest="job_name", help="training job name (default: derived)")
    render.set_defaults(func=_render)

    schema = subparsers.add_parser("schema", help="print the JSON Schema of the job spec")
    schema.set_defaults(func=_schema)


def _print_errors(exc: Exception) -> int:
    from dtrain.jobspec.errors import as_error_list

    for error in as_error_list(exc):  # type: ignore[arg-type]
        print(str(error), file=sys.stderr)
    return EXIT_SPEC_ERROR


def _load_platform(path: str | None, team: str | None = None) -> Any:
    """The settings of --platform FILE; for a platform with teams (the stack's base settings),
    the team's (PlatformSettings.for_team: its role, prefixes and guardrails)."""
    import os

    from dtrain.jobspec.errors import SpecError
    from dtrain.jobspec.platform import PlatformSettings

    if not path:
        if team:
            raise SpecError("--team", team, "needs --platform FILE: the team's settings come from it")
        return None
    settings = PlatformSettings.from_file(path)
    team = team or os.environ.get("DTRAIN_TEAM") or None
    if settings.teams and not settings.team_scoped:
        if not team:
            teams = ", ".join(settings.teams)
            raise SpecError(
                "--team", None, f"the platform has teams ({teams}): name one with --team or DTRAIN_TEAM"
            )
        return settings.for_team(team)
    return settings


def _platform_checks(spec: Any, requests: list[Any], platform: Any, *, real: bool) -> None:
    """With real platform settings, what they refuse (dtrain.requests.execution_requests
    .check_against_platform: the role, the images, the S3 reach of every request); then the
    service-side notes of each training request (what the platform left out, what a spec's own
    groups must allow) on stderr, so stdout stays machine-readable."""
    from dtrain.jobspec.service_rules import request_notes
    from dtrain.requests.execution_requests import TRAINING, check_against_platform

    if real:
        check_against_platform(spec, requests, platform)
    notes: list[str] = []
    for planned in requests:
        if planned.operation != TRAINING:
            continue
        for note in request_notes(
            planned.request,
            platform_volume_key=platform.volume_kms_key_id if platform is not None else None,
            platform_security_groups=platform.security_group_ids if platform is not None else (),
        ):
            if note not in notes:  # a sweep's items share them
                notes.append(note)
    from dtrain.jobspec.spec import requirements_note

    requirements = requirements_note(spec)
    if requirements is not None:
        notes.append(requirements)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    from dtrain.jobspec.errors import SpecError, SpecErrors
    from dtrain.jobspec.placeholder import placeholder_platform
    from dtrain.jobspec.spec import load_spec
    from dtrain.jobspec.summary import spec_summary
    from dtrain.orchestration.execution_plan import planned_state_of_requests
    from dtrain.requests.execution_requests import execution_requests

    try:
        spec = load_spec(args.spec)
        platform = _load_platform(args.platform, getattr(args, "team", None))
        checked_against = "platform " + args.platform if platform is not None else "a placeholder platform"
        if platform is not None and platform.team_scoped:
            checked_against += f", team {platform.team}"
        # Every request the execution makes (each sweep item's too) must build.
        requests = execution_requests(spec, platform or placeholder_platform())
        _platform_checks(spec, requests, platform or placeholder_platform(), real=platform is not None)
        # A sweep whose Step Functions state would pass 256 KiB: Prepare's own check.
        planned_state_of_requests(
            spec.raw, requests, output_uri=(platform or placeholder_platform()).output_s3_uri
        )
    except (SpecError, SpecErrors) as exc:
        return _print_errors(exc)
    except OSError as exc:
        print(f"{args.platform}: cannot read platform settings: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_SPEC_ERROR
    training = next(r.request for r in requests if r.operation == "CreateTrainingJob")
    print(f"ok: {args.spec}: {spec_summary(spec, training)} (checked against {checked_against})")
    return 0


def _render(args: argparse.Namespace) -> int:
    from dtrain.config import is_region_name
    from dtrain.jobspec.errors import SpecError, SpecErrors

    if args.region is not None and not is_region_name(args.region):
        print(f"--region: {args.region!r}: not an AWS region name like us-east-1", file=sys.stderr)
        return EXIT_SPEC_ERROR
    from dtrain.jobspec.spec import load_spec
    from dtrain.requests.execution_requests import execution_requests

    try:
        spec = load_spec(args.spec)
        platform = _load_platform(args.platform, getattr(args, "team", None))
        requests = execution_requests(spec, platform, job_name=args.job_name, region=args.region)
        _platform_checks(spec, requests, platform, real=platform is not None)
    except (SpecError, SpecErrors) as exc:
        return _print_errors(exc)
    except OSError as exc:
        print(f"{args.platform}: cannot read platform settings: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_SPEC_ERROR
    # One training job alone: its request as is (what `aws sagemaker create-training-job
    # --cli-input-json` takes). Several: every request in execution order, by label.
    if len(requests) == 1:
        json.dump(requests[0].request, sys.stdout, indent=2)
    else:
        json.dump({r.label: r.request for r in requests}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from dtrain.jobspec.schema import job_spec_schema

    json.dump(job_spec_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
