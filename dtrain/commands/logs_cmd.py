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
            "stream per host) merged in time order, each line labelled with its host. For an "
            "execution with a processing step, its processing job's logs "
            "(/aws/sagemaker/ProcessingJobs) come first, labelled 'processing'. JOB is a "
            "training or processing job name, an execution name or an execution ARN. --json prints "
            "one JSON object per line (timestamp, host, stream, message, job_kind)."
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
    from dtrain.remote.console_links import SAGEMAKER_PROCESSING_LOG_GROUP
    from dtrain.remote.context import RemoteContext
    from dtrain.remote.errors import EXIT_OK, JobNotFound
    from dtrain.remote.job_lookup import (
        TERMINAL_JOB_STATUSES,
        describe_processing_job,
        describe_training_job,
        refresh,
        resolve,
    )
    from dtrain.remote.log_merge import JobLogReader, LogLine, format_line

    interval = poll_seconds()
    context = RemoteContext.connect(stack_name=args.stack, region=args.region)
    resolved = resolve(context, args.job)
    # The execution's processing step ran before training: its logs come first, labelled.
    processing = resolved.processing_names
    names = resolved.training_job_names
    if len(names) > 1:
        raise JobNotFound(f"{args.job} has {len(names)} jobs; name one of them: {', '.join(names)}")
    if not names and not processing:
        raise JobNotFound(f"{args.job} has no training job yet (dtrain status {args.job})")

    def emit(lines: list[LogLine]) -> None:
        for line in lines:
            print(json.dumps(line.to_json()) if args.json else format_line(line), flush=True)

    def follow(reader: JobLogReader, finished: Any) -> None:
        emit(reader.poll())
        if not reader.seen_streams:
            where = f" from {args.host}" if args.host else ""
            print(f"dtrain logs: no log lines{where} for {reader.job_name} yet", file=sys.stderr)
        while args.follow:
            done = finished()
            # After the job ends, one last read picks up what the hosts flushed while it stopped.
            time.sleep(0 if done else interval)
            emit(reader.poll())
            if done:
                break

    def execution_over() -> bool:
        return resolved.execution is not None and resolved.execution_status != "RUNNING"

    for name in processing:

        def processing_over(name: str = name) -> bool:
            described = describe_processing_job(context, name)
            if described is not None:
                return described.get("ProcessingJobStatus") in TERMINAL_JOB_STATUSES
            # Not allowed to describe it (an older submitter policy): the ledger row says.
            refresh(context, resolved)
            row = next((r for r in resolved.rows if r.job_name == name), None)
            return execution_over() or (row is not None and row.status in TERMINAL_JOB_STATUSES)

        group = SAGEMAKER_PROCESSING_LOG_GROUP
        reader = JobLogReader(context.logs, name, host=args.host, group=group, job_kind="processing")
        follow(reader, processing_over)
    while args.follow and not names and not execution_over():
        time.sleep(interval)  # training starts once processing succeeded
        names = refresh(context, resolved).training_job_names
    if not names:
        if not processing or not args.follow:
            print(f"dtrain logs: {args.job} has no training job yet", file=sys.stderr)
        return EXIT_OK
    job_name = names[0]

    def training_over() -> bool:
        described = describe_training_job(context, job_name)
        return described is None or described.get("TrainingJobStatus") in TERMINAL_JOB_STATUSES

    follow(JobLogReader(context.logs, job_name, host=args.host), training_over)
    return EXIT_OK
