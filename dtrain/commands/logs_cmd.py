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
    from dtrain.remote.job_logs import print_job_logs

    return print_job_logs(args)
