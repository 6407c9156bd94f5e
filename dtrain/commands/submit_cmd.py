"""`dtrain submit SPEC [--wait]`: start a job on the deployed platform (one job per spec)."""

from __future__ import annotations

import argparse
from typing import Any

from dtrain.remote.cli_support import add_parser, reports_errors


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "submit",
        help="validate a job spec and start it on the deployed platform",
        description=(
            "Validate the job spec locally (the same errors as dtrain validate, exit code 2, "
            "nothing sent to AWS), package a local source_dir as sourcedir.tar.gz in the "
            "platform's artifacts bucket, and start an execution of the platform's state "
            "machine with the spec as input. The execution is named after the spec's job_name "
            "(or, without one, after the spec and code digest), so submitting the same spec "
            "twice starts one job: the second submit shows the running one (exit 0), and a "
            "spec that already ran is refused (exit 4). --wait follows the job to its end with "
            "a progress view and exits 0 only when it succeeded."
        ),
    )
    parser.add_argument("spec", metavar="SPEC", help="job spec file (JSON or YAML)")
    parser.add_argument(
        "--wait", action="store_true", help="follow the job to its end; exit 0 only on success"
    )
    parser.add_argument(
        "--name", default=None, help="execution name to use instead of the one derived from the spec"
    )
    parser.set_defaults(func=handle)


@reports_errors
def handle(args: argparse.Namespace) -> int:
    from dtrain.remote.submission import submit

    return submit(args)
