"""A deployed dtrain platform in moto, as the CLI sees it: stack outputs, state machine, ledger.

The resources are created directly (not from the synthesized app) so that these tests pin the
CLI's contract with the platform, the agreed stack outputs and ledger schema, and stay fast.
Step Functions executions in moto's default backend stay RUNNING until stopped: exactly a
job in progress. The SageMaker side is played by `FakePlatform` helpers that set what
SageMaker would report (statuses, timings, transitions, log streams).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

REGION = "us-east-1"
STACK = "DtrainOrchestration"
BUCKET = "dtrain-artifacts-test"
TABLE = "dtrain-ledger-test"
ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/dtrain-training"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"

DDP_IMAGE = f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/dtrain-ddp:latest"
PLATFORM_SETTINGS = {
    "region": REGION,
    "role_arn": ROLE_ARN,
    "output_s3_uri": f"s3://{BUCKET}/jobs",
    "checkpoint_s3_uri": f"s3://{BUCKET}/checkpoints",
    "image_uris": {
        "ddp": DDP_IMAGE,
        "horovod": f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/dtrain-horovod:latest",
    },
}

WAITING_DEFINITION = {
    "StartAt": "Submit",
    "States": {"Submit": {"Type": "Pass", "End": True}},
}

CLEAN_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # Never reach for instance metadata or a developer's real profile.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/dtrain-tests/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/dtrain-tests/config",
    "DTRAIN_POLL_SECONDS": "0",
}
REMOVED_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "DTRAIN_STACK", "AWS_DEFAULT_PROFILE")


def stack_template(outputs: dict[str, str]) -> str:
    return json.dumps(
        {
            "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
    )


def create_ledger_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
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


@dataclass
class FakePlatform:
    """The deployed platform plus the helpers that play SageMaker and the Submit Lambda."""

    state_machine_arn: str
    tmp: Path

    @property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions", region_name=REGION)

    def execution_arn(self, name: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + name

    def put_ledger_row(self, job_name: str, execution_name: str, **attributes: str) -> None:
        item = {
            "job_name": job_name,
            "execution_arn": self.execution_arn(execution_name),
            "execution_name": execution_name,
            "token_state": "OPEN",
            "status": "InProgress",
            "spec_digest": "0" * 64,
            "spec_summary": json.dumps(
                {"framework": "pytorch", "instance_type": "ml.g5.12xlarge", "instance_count": 2}
            ),
            "created_at": "2026-11-20T10:00:00.000000Z",
            "updated_at": "2026-11-20T10:00:00.000000Z",
            **attributes,
        }
        boto3.client("dynamodb", region_name=REGION).put_item(
            TableName=TABLE, Item={key: {"S": value} for key, value in item.items()}
        )

    def create_training_job(self, name: str, **state: Any) -> None:
        """CreateTrainingJob, then set what SageMaker would report (moto completes jobs at once)."""
        boto3.client("sagemaker", region_name=REGION).create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": DDP_IMAGE, "TrainingInputMode": "File"},
            RoleArn=ROLE_ARN,
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/jobs"},
            ResourceConfig={"InstanceType": "ml.g5.12xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
            EnableManagedSpotTraining=True,
        )
        job = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].training_jobs[name]
        for key, value in state.items():
            setattr(job, key, value)

    def put_logs(
        self, job_name: str, host: str, lines: list[tuple[int, str]], epoch: int = 1763600000
    ) -> str:
        logs = boto3.client("logs", region_name=REGION)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=LOG_GROUP)
        stream = f"{job_name}/{host}-{epoch}"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": ts, "message": message} for ts, message in lines],
        )
        return stream

    @staticmethod
    def spec(job_name: str | None, **estimator: Any) -> dict[str, Any]:
        """A small valid spec (packaged DDP image, code baked in) with estimator overrides."""
        spec: dict[str, Any] = {
            "framework": "pytorch",
            "estimator": {
                "entry_point": "train_ddp.py",
                "image_uri": "ddp",
                "instance_type": "ml.g5.12xlarge",
                "instance_count": 2,
                "distribution": {"torch_distributed": {"enabled": True}},
                "hyperparameters": {"epochs": 1, "batch_size": 64},
                **estimator,
            },
            "inputs": {"train": f"s3://{BUCKET}/data/train"},
        }
        if job_name:
            spec["job_name"] = job_name
        return spec

    def write_spec(self, name: str, spec: dict[str, Any]) -> Path:
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(spec))
        return path


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key in REMOVED_ENV:
            mp.delenv(key, raising=False)
        for key, value in CLEAN_ENV.items():
            mp.setenv(key, value)
        yield


def add_platform_stack(stack_name: str, definition: dict[str, Any]) -> str:
    """A state machine and a stack whose outputs point at it and at the shared bucket and ledger."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = str(
        sfn.create_state_machine(
            name=f"{stack_name}-machine",
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/dtrain-states",
            type="STANDARD",
        )["stateMachineArn"]
    )
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=stack_name,
        TemplateBody=stack_template(
            {
                "StateMachineArn": arn,
                "LedgerTableName": TABLE,
                "TopicArn": f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:dtrain-events",
                "ArtifactsBucketName": BUCKET,
                "PlatformSettings": json.dumps(PLATFORM_SETTINGS),
            }
        ),
    )
    return arn


def deploy_platform(definition: dict[str, Any]) -> str:
    """The bucket, the ledger, the default stack, and a stack that is not a dtrain platform."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    create_ledger_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    arn = add_platform_stack(STACK, definition)
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="SomethingElse", TemplateBody=stack_template({})
    )
    return arn


@pytest.fixture(scope="session")
def platform_builder() -> Any:
    """For modules that need their own mock (e.g. executing state machines): build inside it."""

    class Builder:
        deploy = staticmethod(deploy_platform)
        add_stack = staticmethod(add_platform_stack)
        platform = FakePlatform

    return Builder


@pytest.fixture(scope="module")
def platform(aws_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakePlatform]:
    with mock_aws():
        arn = deploy_platform(WAITING_DEFINITION)
        yield FakePlatform(arn, tmp_path_factory.mktemp("specs"))


class Cli:
    """`dtrain ARGV` in-process, with its exit code, stdout and stderr."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def run(self, *argv: str) -> tuple[int, str, str]:
        from dtrain.cli import main

        self._capsys.readouterr()
        code = main(list(argv))
        out, err = self._capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self.run(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)
