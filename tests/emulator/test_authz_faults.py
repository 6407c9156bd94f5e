"""The platform's permission faults (issue 11), each reintroduced by removing from the
synthesized template what fixes it: with enforcement on, the chain goes red with AWS's
refusal naming the missing permission. Also: what enforcement must let through."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator.apps import STANDIN_DATA_BUCKET, synth_standin_app
from dtrain.emulator.authz.mutation import StatementRef, assembly_with, without_matching

ORCH = "DtrainOrchestration"
STANDIN = "DtrainStandIn"
SPEC: dict[str, Any] = {
    "framework": "pytorch",
    "estimator": {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.m5.xlarge",
        "instance_count": 1,
        "hyperparameters": {"epochs": 1},
        "max_run": 3600,
    },
    "inputs": {"train": f"s3://{STANDIN_DATA_BUCKET}/cifar10/train"},
}


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_standin_app(tmp_path_factory.mktemp("cdk") / "cdk.out")


Predicate = Callable[[StatementRef, str], bool]


@pytest.fixture
def broken(assembly: Path, tmp_path: Path) -> Callable[..., Path]:
    """The assembly without the statements `predicate` selects in `stack` (at least one unless
    the fault is present in the platform as synthesized)."""

    def make(stack: str, predicate: Predicate) -> Path:
        name = f"{stack}.template.json"
        template = json.loads((assembly / name).read_text())
        mutated, _ = without_matching(template, stack, predicate)
        return assembly_with(assembly, tmp_path / "cdk.out", {name: mutated})

    return make


def _run(emu: Emulator) -> dict[str, Any]:
    arn = emu.start_execution(SPEC)
    (job,) = emu.jobs_of(arn)
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
    return emu.wait_execution(arn)


@pytest.fixture
def run_chain() -> Iterator[Callable[[Path], tuple[Emulator, dict[str, Any]]]]:
    opened: list[Emulator] = []

    def run(path: Path) -> tuple[Emulator, dict[str, Any]]:
        emu = Emulator(path, announce=False).__enter__()
        opened.append(emu)
        return emu, _run(emu)

    yield run
    for emu in opened:
        emu.__exit__(None, None, None)


def test_fault_state_machine_role_without_kms_for_the_encrypted_topic(broken: Any, run_chain: Any) -> None:
    # Issue 11 fault 1: Notify publishes to an SSE-KMS topic; SNS asks KMS as the publisher.
    path = broken(ORCH, lambda ref, st: "WorkflowRole" in ref.logical_id and '"kms:' in st)
    _, desc = run_chain(path)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "SNS.KMSAccessDeniedException"
    assert "TrainingWorkflowRole" in desc["cause"] and "kms:GenerateDataKey" in desc["cause"]


def test_fault_alarms_cannot_publish_to_the_encrypted_topic(broken: Any, run_chain: Any) -> None:
    # Issue 11 fault 3: alarms publish as cloudwatch.amazonaws.com (topic and key policy).
    path = broken(ORCH, lambda ref, st: "cloudwatch.amazonaws.com" in st)
    emu, _ = run_chain(path)
    refused = "\n".join(emu.service_refusals)
    assert "cloudwatch.amazonaws.com is not authorized to perform: sns:Publish" in refused
    assert "cloudwatch.amazonaws.com is not authorized to perform: kms:GenerateDataKey" in refused


def test_fault_execution_role_cannot_read_the_input(broken: Any, tmp_path: Path) -> None:
    # Issue 11 fault 5: the job's input is outside what the execution role may read.
    from dtrain.emulator.local_backend import LocalRunnerBackend
    from dtrain.local import LocalConfig

    path = broken(STANDIN, lambda ref, st: "ExecutionRole" in ref.logical_id and "s3:List" in st)
    backend = LocalRunnerBackend(workdir=tmp_path / "jobs", config=LocalConfig(images={}))
    with Emulator(path, sagemaker=backend, announce=False) as emu:
        emu.client("s3").put_object(Bucket=STANDIN_DATA_BUCKET, Key="cifar10/train/x.bin", Body=b"x")
        arn = emu.start_execution(SPEC)
        desc = emu.wait_execution(arn, timeout=120)
    assert desc["status"] == "FAILED"
    assert "AccessDenied" in desc["cause"] and "s3:ListBucket" in desc["cause"]
    assert f"arn:aws:s3:::{STANDIN_DATA_BUCKET}" in desc["cause"]


def test_submit_role_without_passrole_is_refused(broken: Any) -> None:
    path = broken(ORCH, lambda ref, st: "SubmitJobRole" in ref.logical_id and "iam:PassRole" in st)
    with Emulator(path, announce=False) as emu:
        desc = emu.wait_execution(emu.start_execution(SPEC))
    assert desc["status"] == "FAILED"
    assert "not authorized to perform: iam:PassRole" in desc["cause"]


def test_eventbridge_without_the_function_permission_is_dropped(broken: Any) -> None:
    path = broken(ORCH, lambda ref, st: ref.resource_type == "AWS::Lambda::Permission" and "JobEvents" in st)
    with Emulator(path, announce=False) as emu:
        arn = emu.start_execution(SPEC)
        (job,) = emu.jobs_of(arn)
        emu.sagemaker.complete(job)
        emu.drain_events()
        assert emu.describe_execution(arn)["status"] == "RUNNING"  # the event never arrived
        refusals = [r.message for r in emu.authz.refusals]
    assert any(
        "events.amazonaws.com is not authorized to perform: lambda:InvokeFunction" in m for m in refusals
    )


def test_enforcement_off_lets_the_broken_policy_through(broken: Any) -> None:
    path = broken(ORCH, lambda ref, st: "SubmitJobRole" in ref.logical_id and "iam:PassRole" in st)
    with Emulator(path, announce=False, enforce=False) as emu:
        arn = emu.start_execution(SPEC)
        assert emu.jobs_of(arn)
        assert emu.authz is None


def test_lambda_role_without_the_ledger_key_is_refused(broken: Any) -> None:
    # The ledger is encrypted with the orchestration key: each ledger call makes DynamoDB
    # decrypt the table key with the caller's permissions (calls._DYNAMODB_DATA).
    path = broken(
        ORCH,
        lambda ref, st: (
            "SubmitJobRole" in ref.logical_id and '"kms:Decrypt"' in st and "OrchestrationKey" in st
        ),
    )
    with Emulator(path, announce=False) as emu:
        desc = emu.wait_execution(emu.start_execution(SPEC))
    assert desc["status"] == "FAILED"
    assert "SubmitJobRole" in desc["cause"] and "kms:Decrypt" in desc["cause"]
    assert "dynamodb" in desc["cause"]  # the call DynamoDB makes with the caller's permissions


def test_state_machine_role_that_does_not_trust_step_functions_cannot_run(broken: Any) -> None:
    from botocore.exceptions import ClientError

    path = broken(
        ORCH,
        lambda ref, st: (
            "WorkflowRole" in ref.logical_id
            and ref.path == ("AssumeRolePolicyDocument",)
            and "states.amazonaws.com" in st
        ),
    )
    with Emulator(path, announce=False) as emu, pytest.raises(ClientError) as refused:
        emu.start_execution(SPEC)
    assert "states.amazonaws.com is not authorized to perform: sts:AssumeRole" in str(refused.value)
