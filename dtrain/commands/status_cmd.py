"""`dtrain status JOB|EXECUTION`: one screen about a job on the deployed platform."""

from __future__ import annotations

import argparse
from typing import Any

from dtrain.remote.cli_support import add_parser, reports_errors


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "status",
        help="show a submitted job: status, timings, billable time, spot savings, metrics",
        description=(
            "Show one job of the deployed platform: spec summary, execution and training job "
            "status, timings, billable time and spot savings, final metrics, failure reason, "
            "console links, and the endpoint or transform job the execution created after "
            "training. JOB is a training job name, an execution name or an execution ARN. "
            "Exits 0 whenever the job is found, whatever its state (read it from --json)."
        ),
    )
    parser.add_argument("job", metavar="JOB|EXECUTION")
    parser.set_defaults(func=handle)


@reports_errors
def handle(args: argparse.Namespace) -> int:
    from dtrain.remote.cli_support import print_json
    from dtrain.remote.context import RemoteContext
    from dtrain.remote.job_lookup import resolve
    from dtrain.remote.job_summary import render_summary, summarize

    context = RemoteContext.connect(
        stack_name=args.stack, region=args.region, team=getattr(args, "team", None)
    )
    summary = summarize(context.region, resolve(context, args.job))
    if args.json:
        print_json(summary)
    else:
        print(render_summary(summary))
    return 0
