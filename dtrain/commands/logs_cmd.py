"""`dtrain logs JOB [--follow] [--host algo-2]`: the job's CloudWatch logs, merged by host."""

from __future__ import annotations

import argparse
from typing import Any

from dtrain.remote.cli_support import add_parser, reports_errors


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "logs",
        help="print a job's logs from every host, merged in time order and labelled by host",
        description=(
            "Print the CloudWatch log streams of a training job (/aws/sagemaker/TrainingJobs, one "
            "stream per host) merged in time order, each line labelled with its host. JOB is a "
            "training job name, an execution name or an execution ARN. --json prints one JSON "
            "object per line (timestamp, host, stream, message)."
        ),
    )
    parser.add_argument("job", metavar="JOB|EXECUTION")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    parser.add_argument("--host", default=None, help="only this host, e.g. algo-2")
    parser.set_defaults(func=handle)


@reports_errors
def handle(args: argparse.Namespace) -> int:
    import json
    import sys
    import time

    from dtrain.remote.cli_support import poll_seconds
    from dtrain.remote.context import RemoteContext
    from dtrain.remote.errors import EXIT_OK, JobNotFound
    from dtrain.remote.job_lookup import TERMINAL_JOB_STATUSES, describe_training_job, resolve
    from dtrain.remote.log_merge import JobLogReader, LogLine, format_line

    interval = poll_seconds()
    context = RemoteContext.connect(stack_name=args.stack, region=args.region)
    resolved = resolve(context, args.job)
    job_name = resolved.job_name
    if job_name is None:
        names = resolved.job_names
        if names:
            raise JobNotFound(f"{args.job} has {len(names)} jobs; name one of them: {', '.join(names)}")
        raise JobNotFound(f"{args.job} has no training job yet (dtrain status {args.job})")
    reader = JobLogReader(context.logs, job_name, host=args.host)

    def emit(lines: list[LogLine]) -> None:
        for line in lines:
            print(json.dumps(line.to_json()) if args.json else format_line(line), flush=True)

    emit(reader.poll())
    if not reader.seen_streams:
        where = f" from {args.host}" if args.host else ""
        print(f"dtrain logs: no log lines{where} for {job_name} yet", file=sys.stderr)
    while args.follow:
        described = describe_training_job(context, job_name)
        finished = described is None or described.get("TrainingJobStatus") in TERMINAL_JOB_STATUSES
        # After the job ends, one last read picks up what the hosts flushed while it stopped.
        time.sleep(0 if finished else interval)
        emit(reader.poll())
        if finished:
            break
    return EXIT_OK
