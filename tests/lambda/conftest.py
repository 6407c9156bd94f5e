"""Fixtures for the orchestration Lambdas' unit tests: moto DynamoDB + SageMaker, no CFN.

SageMaker runs behind the emulator's shims (ResourceInUse, throttling, jobs that stay
InProgress until played); Step Functions answers are recorded by a small fake so a test can
see exactly what was sent.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dtrain.emulator.fixtures import emulated_services
from dtrain.emulator.sagemaker import EventPlaybackBackend
from dtrain.orchestration.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PLATFORM = {
    "region": REGION,
    "role_arn": "arn:aws:iam::123456789012:role/sagemaker-exec",
    "output_s3_uri": "s3://artifacts/jobs",
    "checkpoint_s3_uri": "s3://checkpoints/checkpoints",
    "image_uris": {"ddp": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ddp:1", "horovod": "x/hvd:1"},
    "job_name_prefix": "dtrain",
}


class RecordingSfn:
    """Records SendTask*/DescribeExecution; `closed` tokens answer like Step Functions does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.closed: set[str] = set()
        self.execution_status: dict[str, str] = {}

    def _answer(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if kwargs["taskToken"] in self.closed:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "closed"}}, name)
        self.calls.append((name, kwargs))
        return {}

    def send_task_success(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("send_task_success", kwargs)

    def send_task_failure(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("send_task_failure", kwargs)

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"status": self.execution_status.get(executionArn, "RUNNING")}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[EventPlaybackBackend]:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(k, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    backend = EventPlaybackBackend()
    with emulated_services(backend):
        yield backend


@pytest.fixture
def ledger(aws: EventPlaybackBackend, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="ledger",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "job_name", "AttributeType": "S"},
            {"AttributeName": "execution_arn", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
            {"AttributeName": "reconcile_watch", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "job_name", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_execution",
                "KeySchema": [
                    {"AttributeName": "execution_arn", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {  # the stack's sparse open-rows index (dtrain.orchestration.ledger.OPEN_ROWS_INDEX)
                "IndexName": "open_rows",
                "KeySchema": [
                    {"AttributeName": "reconcile_watch", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )
    monkeypatch.setenv("LEDGER_TABLE", "ledger")
    monkeypatch.setenv("DTRAIN_PLATFORM", json.dumps(PLATFORM))
    return Ledger("ledger", client=ddb)


@pytest.fixture
def sfn() -> RecordingSfn:
    return RecordingSfn()


@pytest.fixture
def platform() -> Any:
    from dtrain.jobspec.platform import PlatformSettings

    return PlatformSettings.from_dict(PLATFORM)


@pytest.fixture
def spec() -> dict[str, Any]:
    return {
        "framework": "pytorch",
        "estimator": {
            "entry_point": "train_ddp.py",
            "image_uri": "ddp",
            "instance_type": "ml.g5.12xlarge",
            "instance_count": 2,
            "distribution": {"torch_distributed": {"enabled": True}},
            "hyperparameters": {"epochs": 1},
            "max_run": 3600,
        },
        "inputs": {"train": "s3://data/train"},
    }


@pytest.fixture
def load_handler() -> Any:
    def load(function: str) -> Any:
        path = REPO / "lambda" / function / "handler.py"
        spec = importlib.util.spec_from_file_location(f"_test_lambda_{function}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def env() -> dict[str, str]:
    return dict(os.environ)


@pytest.fixture
def lambda_context() -> Any:
    """What Lambda passes a handler as its context: the attributes Powertools' Logger reads."""
    return SimpleNamespace(
        function_name="dtrain-test-fn",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:dtrain-test-fn",
        aws_request_id="6f1a3c9e-0000-4000-8000-000000000001",
    )
