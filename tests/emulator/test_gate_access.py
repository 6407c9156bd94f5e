"""SageMaker's create-time checks of a job's role and keys are the lifecycle gate's, like every
other refusal: the gate asks the IAM engine (authz.hook) whether SageMaker may assume the role and
the role may use the job's keys, and answers ValidationException before moto or a backend sees
the call. The training and processing shims each wrote this check before."""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from dtrain.emulator.authz import hook
from dtrain.emulator.lifecycle import Lifecycle, gate

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/job-role"
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
RESOURCES = {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30, "VolumeKmsKeyId": KEY}


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch, fake_credentials: None) -> Iterator[list[tuple[str, Any]]]:
    """The gate, with an IAM engine that refuses every role and records what it was asked."""
    calls: list[tuple[str, Any]] = []

    def cannot_assume(service: str, role: str, source_arn: str = "") -> str:
        calls.append(("assume", (service, role, source_arn)))
        return f"{service} cannot assume {role}"

    def keys_refused(request: Any, name: str, region: str) -> None:
        calls.append(("keys", (dict(request), name, region)))

    monkeypatch.setattr(hook, "service_cannot_assume", cannot_assume)
    monkeypatch.setattr(hook, "job_keys_refused", keys_refused)
    lifecycle = Lifecycle()
    with mock_aws(), gate.installed(lifecycle):
        yield calls
    assert [code for _, code, _ in lifecycle.refusals] == ["ValidationException"] * len(lifecycle.refusals)


def _refused(call: Any, **request: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as refused:
        call(**request)
    return dict(refused.value.response["Error"])


def test_training_job_role_is_checked_by_the_gate(asked: list[tuple[str, Any]]) -> None:
    error = _refused(
        boto3.client("sagemaker").create_training_job,
        TrainingJobName="Gate-Train-1",
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
        ResourceConfig=RESOURCES,
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    assert error == {
        "Code": "ValidationException",
        "Message": f"sagemaker.amazonaws.com cannot assume {ROLE}",
    }
    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/gate-train-1"
    assert asked == [("assume", ("sagemaker.amazonaws.com", ROLE, arn))]


def test_processing_job_role_and_keys_are_checked_by_the_gate(
    asked: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hook, "service_cannot_assume", lambda *args: None)
    request = {
        "ProcessingJobName": "gate-prep-1",
        "ProcessingResources": {"ClusterConfig": RESOURCES},
        "AppSpecification": {"ImageUri": "img"},
        "RoleArn": ROLE,
        "ProcessingOutputConfig": {"Outputs": [], "KmsKeyId": KEY},
    }
    # The keys are asked in a training request's shape; this engine refuses none, so the call
    # goes on to moto (which has no backend for it here).
    with contextlib.suppress(ClientError):
        boto3.client("sagemaker").create_processing_job(**request)
    assert asked == [
        (
            "keys",
            (
                {"RoleArn": ROLE, "ResourceConfig": RESOURCES, "OutputDataConfig": {"KmsKeyId": KEY}},
                "gate-prep-1",
                "us-east-1",
            ),
        )
    ]


def test_only_the_gate_asks_about_a_jobs_role_and_keys() -> None:
    askers = set()
    for path in sorted((REPO / "dtrain" / "emulator").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("service_cannot_assume", "job_keys_refused"):
                askers.add(path.relative_to(REPO).as_posix())
    assert askers == {"dtrain/emulator/lifecycle/gate.py"}
