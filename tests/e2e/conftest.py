"""Fixtures for the orchestration end-to-end tests: one emulator per module, deployed from the
session's one stand-in synth (`standin_assembly`, tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator.fixtures import standin_emulator


@pytest.fixture(scope="module")
def emulator(standin_assembly: Path) -> Iterator[Emulator]:
    with standin_emulator(standin_assembly) as emu:
        # Notifications land in a queue the tests read.
        sqs = emu.client("sqs")
        queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        emu.client("sns").subscribe(TopicArn=emu.output("TopicArn"), Protocol="sqs", Endpoint=queue_arn)
        emu.notifications_queue = queue_url  # type: ignore[attr-defined]
        yield emu


def notifications(emu: Emulator) -> list[dict[str, Any]]:
    sqs = emu.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=emu.notifications_queue, MaxNumberOfMessages=10).get(
            "Messages", []
        )  # type: ignore[attr-defined]
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=emu.notifications_queue, ReceiptHandle=m["ReceiptHandle"])  # type: ignore[attr-defined]


def job_spec(**estimator: Any) -> dict[str, Any]:
    est: dict[str, Any] = {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.g5.12xlarge",
        "instance_count": 2,
        "distribution": {"torch_distributed": {"enabled": True}},
        "hyperparameters": {"epochs": 1, "lr": 0.1},
        "max_run": 3600,
    }
    est.update(estimator)
    return {"framework": "pytorch", "estimator": est, "inputs": {"train": "s3://data-bucket/cifar10/train"}}


def state_transitions(history: list[dict[str, Any]]) -> int:
    """Step Functions bills one transition per state entered."""
    return sum(1 for e in history if e["type"].endswith("StateEntered"))


@pytest.fixture
def make_spec() -> Any:
    return job_spec


@pytest.fixture
def read_notifications() -> Any:
    return notifications


@pytest.fixture
def count_transitions() -> Any:
    return state_transitions
