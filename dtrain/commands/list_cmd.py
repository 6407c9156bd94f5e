"""`dtrain list [--status S] [--since D] [--experiment NAME]`: recent jobs from the platform's job
ledger (a team's executions on a platform with teams); with --experiment, that experiment's runs
with their hyperparameters and final metrics (a team's: from its executions' histories)."""

from __future__ import annotations

import argparse
import json
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
            "the ledger when their TTL expires (use dtrain status or the console for older ones). "
            "On a platform with teams: the executions of your team's state machine only (--team, "
            "$DTRAIN_TEAM, or the team your IAM role is named after)."
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
    parser.add_argument(
        "--experiment",
        default=None,
        help="only the runs of this SageMaker experiment (ExperimentConfig), side by side: "
        "hyperparameters and final metrics (with a team: among its last --limit executions)",
    )
    parser.set_defaults(func=handle)


@reports_errors
def handle(args: argparse.Namespace) -> int:
    from dtrain.remote.cli_support import parse_since, print_json
    from dtrain.remote.context import RemoteContext
    from dtrain.remote.errors import UsageError

    if args.limit < 0:
        raise UsageError(f"--limit: {args.limit}: must be 0 (all) or more")
    since = parse_since(args.since) if args.since else None
    context = RemoteContext.connect(
        stack_name=args.stack, region=args.region, team=getattr(args, "team", None)
    )
    if context.team is not None:
        if args.experiment:
            # The team's jobs from its executions' histories: its scientists have no ledger read.
            from dtrain.remote.team_executions import team_job_rows

            rows = team_job_rows(context, since=since, limit=args.limit or None)
            return _print_experiment(context, rows, args.experiment, as_json=args.json)
        return _print_team_executions(context, args, since)
    rows = context.ledger.list_recent(status=args.status, since=since, limit=args.limit or None)
    if args.experiment:
        return _print_experiment(context, rows, args.experiment, as_json=args.json)
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


def _print_team_executions(context: Any, args: argparse.Namespace, since: Any) -> int:
    """A platform with teams: the caller's team's executions (dtrain.remote.team_executions)."""
    import sys

    from dtrain.remote.cli_support import print_json
    from dtrain.remote.team_executions import team_executions

    rows = team_executions(context, status=args.status, since=since, limit=args.limit or None)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(
            f"no executions of team {context.team}"
            + (" matching the filters" if args.status or args.since else "")
        )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold", title=f"team {context.team}")
    for column in ("EXECUTION", "STATUS", "STARTED", "STOPPED"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["execution_name"],
            row["status"],
            str(row["started"] or "-")[:19],
            str(row["stopped"] or "-")[:19],
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


def _print_experiment(context: Any, rows: list[Any], experiment: str, *, as_json: bool) -> int:
    import sys

    from dtrain.remote.cli_support import print_json
    from dtrain.remote.experiments import experiment_runs
    from dtrain.remote.job_lookup import describe_training_job

    runs = experiment_runs(
        [r.job_name for r in rows], lambda name: describe_training_job(context, name), experiment
    )
    if as_json:
        print_json(runs)
        return 0
    if not runs:
        where = f"team {context.team}'s executions" if context.team is not None else "the ledger"
        print(f"no runs of experiment {experiment} in {where}")
        return 0
    from rich.console import Console
    from rich.table import Table

    params = sorted({k for run in runs for k in run["hyperparameters"]})
    metrics = sorted({k for run in runs for k in run["final_metrics"]})
    table = Table(box=None, pad_edge=False, header_style="bold", title=f"experiment {experiment}")
    for column in ("RUN", "JOB", "STATUS", *params, *metrics):
        table.add_column(column, overflow="fold")
    for run in runs:
        table.add_row(
            str(run["run_name"] or "-"),
            run["job_name"],
            str(run["status"]),
            *(json.dumps(run["hyperparameters"].get(p, "-")) for p in params),
            *(f"{run['final_metrics'][m]:g}" if m in run["final_metrics"] else "-" for m in metrics),
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0
