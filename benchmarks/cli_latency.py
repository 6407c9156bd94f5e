"""Wall time and AWS calls of the remote commands (`dtrain status|logs|list|submit`) against moto.

Starts moto as a local server (the way the CLI talks to the embedded emulator: AWS_ENDPOINT_URL),
creates a platform like the orchestration stack's (stack outputs, state machine, ledger,
bucket) and a finished 2-host job with logs, then measures:

- each command as a fresh process (`python -m dtrain ...`: interpreter, imports, boto3 clients,
  HTTP round trips), median of --runs;
- the same command in-process (imports warm), median, with the number of AWS API calls it made.

Usage: .venv/bin/python benchmarks/cli_latency.py [--runs 7] [--log-lines 200]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dtrain.ports import free_port

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "dtrain-bench-artifacts"
TABLE = "dtrain-bench-ledger"
JOB = "bench-job-0001-abcdef"
EXECUTION = "bench-execution"


def deploy(log_lines: int) -> None:
    import boto3
    from moto.sagemaker.models import sagemaker_backends

    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "job_name", "AttributeType": "S"},
            {"AttributeName": "execution_arn", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "job_name", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_execution",
                "KeySchema": [{"AttributeName": "execution_arn", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="dtrain-bench",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/states",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name=EXECUTION, input="{}")["executionArn"]
    now = datetime.now(UTC).isoformat()
    ddb.put_item(
        TableName=TABLE,
        Item={
            "job_name": {"S": JOB},
            "execution_arn": {"S": execution},
            "execution_name": {"S": EXECUTION},
            "status": {"S": "Completed"},
            "token_state": {"S": "CLOSED"},
            "spec_summary": {"S": json.dumps({"framework": "pytorch", "instance_count": 2})},
            "created_at": {"S": now},
            "updated_at": {"S": now},
        },
    )
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/dtrain-ddp:latest"
    boto3.client("sagemaker", region_name=REGION).create_training_job(
        TrainingJobName=JOB,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/job",
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/jobs"},
        ResourceConfig={"InstanceType": "ml.g5.12xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        EnableManagedSpotTraining=True,
    )
    job = sagemaker_backends[ACCOUNT][REGION].training_jobs[JOB]
    job.training_time_in_seconds, job.billable_time_in_seconds = 1000, 400
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    start = int(time.time() * 1000) - 600_000
    for host in ("algo-1", "algo-2"):
        stream = f"{JOB}/{host}-1763600000"
        logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream)
        events = [
            {"timestamp": start + i * 100, "message": f"epoch=1 step={i} train_loss=0.{i:04d}"}
            for i in range(log_lines)
        ]
        logs.put_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream, logEvents=events
        )
    outputs = {
        "StateMachineArn": machine,
        "LedgerTableName": TABLE,
        "ArtifactsBucketName": BUCKET,
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:bench",
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="DtrainOrchestration",
        TemplateBody=json.dumps(
            {
                "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {k: {"Value": v} for k, v in outputs.items()},
            }
        ),
    )


@contextlib.contextmanager
def counted_calls() -> Iterator[list[str]]:
    """Record the AWS operations made in-process (botocore's one entry point for API calls)."""
    from botocore.client import BaseClient

    calls: list[str] = []
    original = BaseClient._make_api_call

    def wrapper(self: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(self, operation, params)

    BaseClient._make_api_call = wrapper  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def median_process_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "dtrain", *argv], capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"dtrain {' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return statistics.median(times)


# The floor for `dtrain status JOB`: a bare boto3 program making the same four calls.
BARE_STATUS = f"""
import boto3
boto3.client("cloudformation").describe_stacks(StackName="DtrainOrchestration")
boto3.client("dynamodb").get_item(TableName="{TABLE}", Key={{"job_name": {{"S": "{JOB}"}}}})
boto3.client("sagemaker").describe_training_job(TrainingJobName="{JOB}")
boto3.client("stepfunctions").list_state_machines()
"""


def median_python_seconds(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def in_process(argv: list[str], runs: int) -> tuple[float, int]:
    from dtrain.cli import main

    times = []
    calls = 0
    for _ in range(runs):
        with counted_calls() as made, contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            code = main(argv)
            times.append(time.perf_counter() - started)
        calls = len(made)
        if code != 0:
            raise SystemExit(f"dtrain {' '.join(argv)} exited {code}")
    return statistics.median(times), calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--log-lines", type=int, default=200, help="log lines per host (2 hosts)")
    args = parser.parse_args()

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise

    port = free_port()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("DTRAIN_STACK", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        deploy(args.log_lines)
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "spec.json"
            spec.write_text(
                json.dumps(
                    {
                        "framework": "pytorch",
                        "job_name": "bench-submit",
                        "estimator": {
                            "entry_point": "train_ddp.py",
                            "image_uri": "ddp",
                            "instance_type": "ml.g5.12xlarge",
                            "instance_count": 2,
                            "distribution": {"torch_distributed": {"enabled": True}},
                        },
                        "inputs": {"train": f"s3://{BUCKET}/data/train"},
                    }
                )
            )
            commands = [
                ["--help"],
                ["status", JOB],
                ["status", EXECUTION, "--json"],
                ["logs", JOB],
                ["list"],
                # The first run starts the execution, later runs find it running (idempotent path).
                ["submit", str(spec)],
            ]
            python = sys.version.split()[0]
            print(f"moto server, {args.runs} runs each, {2 * args.log_lines} log lines; Python {python}")
            print(f"{'command':36} {'process (median s)':>19} {'in-process (s)':>15} {'AWS calls':>10}")
            bare = median_python_seconds(BARE_STATUS, args.runs)
            print(f"{'bare boto3, the 4 calls of status':36} {bare:19.3f} {'-':>15} {4:10d}")
            for argv in commands:
                process_s = median_process_seconds(argv, args.runs)
                if argv == ["--help"]:
                    print(f"{'dtrain --help':36} {process_s:19.3f} {'-':>15} {'-':>10}")
                    continue
                inproc_s, calls = in_process(argv, args.runs)
                label = "dtrain " + " ".join(Path(a).name if a.endswith(".json") else a for a in argv)
                print(f"{label:36} {process_s:19.3f} {inproc_s:15.3f} {calls:10d}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
