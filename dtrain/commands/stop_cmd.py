"""`dtrain stop JOB`: stop a running execution; the platform's abort path stops its training job."""

from __future__ import annotations

import argparse
from typing import Any

from dtrain.remote.cli_support import add_parser, reports_errors

STOP_ERROR = "dtrain.StoppedByUser"


def register(subparsers: Any) -> None:
    parser = add_parser(
        subparsers,
        "stop",
        help="stop a running job (its execution, and through the abort path its training job)",
        description=(
            "Stop the execution of a job. The platform's abort path (an EventBridge rule on the "
            "execution's status change) then stops the SageMaker training job, so the job ends "
            "as Stopped and billing stops. JOB is a training job name, an execution name or an "
            "execution ARN. A job that already finished is reported with exit code 4."
        ),
    )
    parser.add_argument("job", metavar="JOB|EXECUTION")
    parser.add_argument(
        "--reason", default="stopped with dtrain stop", help="cause recorded on the execution"
    )
    parser.set_defaults(func=handle)


@reports_errors
def handle(args: argparse.Namespace) -> int:
    from dtrain.remote.aws import translate_aws_errors
    from dtrain.remote.cli_support import print_json
    from dtrain.remote.console_links import execution_link
    from dtrain.remote.context import RemoteContext
    from dtrain.remote.errors import JobConflict, JobNotFound
    from dtrain.remote.job_lookup import resolve

    context = RemoteContext.connect(
        stack_name=args.stack, region=args.region, team=getattr(args, "team", None)
    )
    resolved = resolve(context, args.job)
    execution = resolved.execution
    if execution is None:
        job = resolved.training_job or {}
        raise JobNotFound(
            f"{args.job} has no execution on stack {context.platform.stack_name} "
            f"(training job status: {job.get('TrainingJobStatus', 'unknown')}); it was not started by "
            "this platform, so dtrain does not stop it"
        )
    status = str(execution["status"])
    arn = str(execution["executionArn"])
    job_states = ", ".join(
        f"{name}: {resolved.training_jobs.get(name, {}).get('TrainingJobStatus', 'not created')}"
        for name in resolved.job_names
    )
    if status != "RUNNING":
        raise JobConflict(
            f"{args.job} already finished: execution {execution.get('name')} is {status}"
            + (f" (training job {job_states})" if job_states else "")
            + "; nothing to stop"
        )
    with translate_aws_errors(f"stop execution {arn}"):
        context.stepfunctions.stop_execution(executionArn=arn, error=STOP_ERROR, cause=args.reason[:32768])
    result = {
        "execution_arn": arn,
        "execution_name": execution.get("name"),
        "previous_status": status,
        "jobs": {
            name: resolved.training_jobs.get(name, {}).get("TrainingJobStatus") for name in resolved.job_names
        },
        "console_url": execution_link(context.region, arn),
    }
    if args.json:
        print_json(result)
    else:
        print(f"stopped execution {execution.get('name')}")
        if job_states:
            print(f"  training job(s) {job_states}: the platform's abort path stops them now")
        else:
            print("  no training job was created yet")
        print(f"  console  {result['console_url']}")
    return 0
