"""`dtrain logs`: a job's CloudWatch logs merged by host, its execution's processing job's first.

Called by dtrain.commands.logs_cmd; reads logs and job status, never changes anything in AWS.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from dtrain.remote.cli_support import poll_seconds
from dtrain.remote.console_links import SAGEMAKER_PROCESSING_LOG_GROUP
from dtrain.remote.context import RemoteContext
from dtrain.remote.errors import EXIT_OK, JobNotFound
from dtrain.remote.job_lookup import (
    TERMINAL_JOB_STATUSES,
    ResolvedJob,
    describe_processing_job,
    describe_training_job,
    refresh,
    resolve,
)
from dtrain.remote.log_merge import JobLogReader, LogLine, format_line


@dataclass(frozen=True)
class _LogPrinter:
    """Prints a job's lines as text or JSON, once or (`follow`) until the job is over."""

    as_json: bool
    host: str | None
    follow: bool
    interval: float

    def emit(self, lines: list[LogLine]) -> None:
        for line in lines:
            print(json.dumps(line.to_json()) if self.as_json else format_line(line), flush=True)

    def print_job(self, reader: JobLogReader, finished: Callable[[], bool]) -> None:
        self.emit(reader.poll())
        if not reader.seen_streams:
            where = f" from {self.host}" if self.host else ""
            print(f"dtrain logs: no log lines{where} for {reader.job_name} yet", file=sys.stderr)
        while self.follow:
            done = finished()
            # After the job ends, one last read picks up what the hosts flushed while it stopped.
            time.sleep(0 if done else self.interval)
            self.emit(reader.poll())
            if done:
                break


def _execution_over(resolved: ResolvedJob) -> bool:
    return resolved.execution is not None and resolved.execution_status != "RUNNING"


def _processing_over(context: RemoteContext, resolved: ResolvedJob, name: str) -> bool:
    described = describe_processing_job(context, name)
    if described is not None:
        return described.get("ProcessingJobStatus") in TERMINAL_JOB_STATUSES
    # Not allowed to describe it (an older submitter policy): the ledger row says.
    refresh(context, resolved)
    row = next((r for r in resolved.rows if r.job_name == name), None)
    return _execution_over(resolved) or (row is not None and row.status in TERMINAL_JOB_STATUSES)


def _training_over(context: RemoteContext, job_name: str) -> bool:
    described = describe_training_job(context, job_name)
    return described is None or described.get("TrainingJobStatus") in TERMINAL_JOB_STATUSES


def print_job_logs(args: argparse.Namespace) -> int:
    """`args`: dtrain logs' (job, follow, host, json, stack, region)."""
    interval = poll_seconds()
    context = RemoteContext.connect(
        stack_name=args.stack, region=args.region, team=getattr(args, "team", None)
    )
    resolved = resolve(context, args.job)
    # The execution's processing step ran before training: its logs come first, labelled.
    processing = resolved.processing_names
    names = resolved.training_job_names
    if len(names) > 1:
        raise JobNotFound(f"{args.job} has {len(names)} jobs; name one of them: {', '.join(names)}")
    if not names and not processing:
        raise JobNotFound(f"{args.job} has no training job yet (dtrain status {args.job})")
    printer = _LogPrinter(as_json=args.json, host=args.host, follow=args.follow, interval=interval)

    for name in processing:
        group = SAGEMAKER_PROCESSING_LOG_GROUP
        reader = JobLogReader(context.logs, name, host=args.host, group=group, job_kind="processing")
        printer.print_job(reader, partial(_processing_over, context, resolved, name))
    while args.follow and not names and not _execution_over(resolved):
        time.sleep(interval)  # training starts once processing succeeded
        names = refresh(context, resolved).training_job_names
    if not names:
        if not processing or not args.follow:
            print(f"dtrain logs: {args.job} has no training job yet", file=sys.stderr)
        return EXIT_OK
    job_name = names[0]
    printer.print_job(
        JobLogReader(context.logs, job_name, host=args.host), partial(_training_over, context, job_name)
    )
    return EXIT_OK
