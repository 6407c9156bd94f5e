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
    validate.set_defaults(func=_validate)

    render = subparsers.add_parser(
        "render",
        help="print the CreateTrainingJob request for a job spec (with deploy / transform blocks: "
        "every request, by operation)",
    )
    render.add_argument("spec", help="job spec file (JSON or YAML)")
    render.add_argument(
        "--platform", metavar="FILE", help="platform settings JSON (role, buckets, images...)"
    )
    render.add_argument("--region", help="AWS region (default: the platform's)")
    render.add_argument("--job-name", dest="job_name", help="training job name (default: derived)")
    render.set_defaults(func=_render)

    schema = subparsers.add_parser("schema", help="print the JSON Schema of the job spec")
    schema.set_defaults(func=_schema)


def _print_errors(exc: Exception) -> int:
    from dtrain.errors import as_error_list

    for error in as_error_list(exc):  # type: ignore[arg-type]
        print(str(error), file=sys.stderr)
    return EXIT_SPEC_ERROR


def _load_platform(path: str | None) -> Any:
    from dtrain.platform import PlatformSettings

    return PlatformSettings.from_file(path) if path else None


def _platform_checks(request: dict[str, Any], platform: Any, *, reach: bool) -> None:
    """With real platform settings, the S3 reach of its execution role (dtrain.s3_reach); then
    the service-side notes (what the platform left out, what a spec's own groups must allow)
    on stderr, so stdout stays machine-readable."""
    from dtrain.s3_reach import check_reach
    from dtrain.service_rules import request_notes

    if reach:
        check_reach(request, platform)
    for note in request_notes(
        request,
        platform_volume_key=platform.volume_kms_key_id if platform is not None else None,
        platform_security_groups=platform.security_group_ids if platform is not None else (),
    ):
        print(f"note: {note}", file=sys.stderr)


def _inference_requests(spec: Any, platform: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The deploy / transform requests for the model of `request`'s training job ({} without)."""
    if spec.deploy is None and spec.transform is None:
        return {}
    from dtrain.inference_request import inference_requests

    region = json.loads(request["HyperParameters"]["sagemaker_region"])
    return inference_requests(spec, platform, training_job_name=request["TrainingJobName"], region=region)


def _validate(args: argparse.Namespace) -> int:
    from dtrain.errors import SpecError, SpecErrors
    from dtrain.placeholder import placeholder_platform
    from dtrain.request import build_training_job_request
    from dtrain.spec import load_spec, sweep_entries
    from dtrain.summary import spec_summary

    try:
        spec = load_spec(args.spec)
        platform = _load_platform(args.platform)
        checked_against = "platform " + args.platform if platform is not None else "a placeholder platform"
        request = build_training_job_request(spec, platform or placeholder_platform())
        # A sweep runs one job per entry: each must become a valid request too.
        for entry in sweep_entries(spec) if spec.sweep is not None else ():
            entry_request = build_training_job_request(entry, platform or placeholder_platform())
            if platform is not None:
                from dtrain.s3_reach import check_reach

                check_reach(entry_request, platform)
        _platform_checks(request, platform or placeholder_platform(), reach=platform is not None)
        _inference_requests(spec, platform or placeholder_platform(), request)
    except (SpecError, SpecErrors) as exc:
        return _print_errors(exc)
    except OSError as exc:
        print(f"{args.platform}: cannot read platform settings: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_SPEC_ERROR
    print(f"ok: {args.spec}: {spec_summary(spec, request)} (checked against {checked_against})")
    return 0


def _render(args: argparse.Namespace) -> int:
    from dtrain.config import is_region_name
    from dtrain.errors import SpecError, SpecErrors

    if args.region is not None and not is_region_name(args.region):
        print(f"--region: {args.region!r}: not an AWS region name like us-east-1", file=sys.stderr)
        return EXIT_SPEC_ERROR
    from dtrain.request import build_training_job_request
    from dtrain.spec import load_spec

    try:
        spec = load_spec(args.spec)
        platform = _load_platform(args.platform)
        request = build_training_job_request(spec, platform, job_name=args.job_name, region=args.region)
        _platform_checks(request, platform, reach=platform is not None)
        # With deploy / transform blocks: every request, by operation, the training job's first.
        after = _inference_requests(spec, platform, request)
    except (SpecError, SpecErrors) as exc:
        return _print_errors(exc)
    except OSError as exc:
        print(f"{args.platform}: cannot read platform settings: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_SPEC_ERROR
    json.dump({"CreateTrainingJob": request, **after} if after else request, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from dtrain.schema import job_spec_schema

    json.dump(job_spec_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
