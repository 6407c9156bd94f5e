"""`dtrain list [--status S] [--since D]`: recent jobs from the platform's job ledger."""

from __future__ import annotations

import argparse
from typing import Any

from dtrain.remote.cli_support import add_parser, reports_errors


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "list",
        help="list recent jobs of the deployed platform from its job ledger",
        description=(
            "List recent jobs from the platform's job ledger, newest first: training jobs, and the "
            "endpoints and transform jobs executions created after training. Finished jobs leave "
            "the ledger when their TTL expires (use dtrain status or the console for older ones)."
        ),
    )
    parser.add_argument(
        "--status",
        default=None,
        help="only jobs in this status: Submitting, InProgress, Completed, Failed, Stopping, Stopped",
    )
    parser.add_argument(
        "--since", default=None, help="only jobs created since: 90m, 12h, 3d, 2w or an ISO date"
    )
    parser.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50; 0 = all)")
    parser.set_defaults(func=handle)


@reports_errors
def handle(args: argparse.Namespace) -> int:
    from dtrain.remote.cli_support import parse_since, print_json
    from dtrain.remote.context import RemoteContext
    from dtrain.remote.errors import UsageError

    if args.limit < 0:
        raise UsageError(f"--limit: {args.limit}: must be 0 (all) or more")
    since = parse_since(args.since) if args.since else None
    context = RemoteContext.connect(stack_name=args.stack, region=args.region)
    rows = context.ledger.list_recent(status=args.status, since=since, limit=args.limit or None)
    if args.json:
        print_json([row.to_json() for row in rows])
        return 0
    if not rows:
        print("no jobs" + (" matching the filters" if args.status or args.since else ""))
        return 0
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("JOB", "KIND", "STATUS", "CREATED", "EXECUTION", "SPEC"):
        table.add_column(column, overflow="fold")
    for row in rows:
        summary = row.spec_summary
        spec = " ".join(
            str(summary[key])
            for key in ("instance_count", "instance_type", "distribution")
            if summary.get(key)
        )
        if row.kind == "endpoint":  # the row is the deployment: the endpoint, with the config it deployed
            spec = f"config {row.job_name}"
        table.add_row(
            row.resource,
            row.kind,
            row.status + (f" ({row.failure_reason[:40]})" if row.failure_reason else ""),
            (row.created_at or "-")[:19],
            row.execution_name or (row.execution_arn or "-").rsplit(":", 1)[-1],
            spec,
        )
    # Off a terminal (pipes, CI) rich would wrap at 80 columns: give rows room instead.
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0
