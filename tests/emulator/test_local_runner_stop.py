"""A stop of a job the local runner runs passes through Stopping for the lifecycle's duration, as
the lifecycle holds every other job's stop: StopTrainingJob / StopProcessingJob answer with the
job Stopping, and it is Stopped only once its processes have ended and the duration has passed.

moto + the emulator's shims with the local-runner backend; the runner's processes are stood in
by a run that lasts until it is stopped (the stop, not the training, is what is tested here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from dtrain.emulator import local_backend, processing_backend
from dtrain.emulator.local_backend import LocalRunnerBackend
from dtrain.emulator.shims import LambdaRuntime, Shims, installed

REGION = "us-east-1"
ACCOUNT = "123456789012"
STOPPING_S = 0.6


class _RunUntilStopped:
    """A local training job whose processes run until stop() (which ends them after a moment)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.status = "InProgress"
        self.secondary_status_transitions = [{"Status": "Starting"}, {"Status": "Training"}]
        self._ended = threading.Event()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        time.sleep(0.05)  # the processes take a moment to end
        self.status = "Stopped"
        self._ended.set()

    def wait(self) -> Any:
        self._ended.wait()
        return SimpleNamespace(
            status="Stopped",
            model_artifact=None,
            failure_reason=None,
            final_metrics={},
            training_seconds=1,
            billable_seconds=1,
        )


def _processing_until_stopped(request: Any, *, stop: threading.Event, **kwargs: Any) -> Any:
    stop.wait(30)
    return SimpleNamespace(status="Failed", staged={}, failure_reason="stopped")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalRunnerBackend]:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setattr(local_backend, "LocalTrainingJob", _RunUntilStopped)
    monkeypatch.setattr(processing_backend, "run_processing_locally", _processing_until_stopped)
    (tmp_path / "lambdas").mkdir()
    backend = LocalRunnerBackend(workdir=tmp_path, poll_s=0.01)
    shims = Shims(runtime=LambdaRuntime(workdir=tmp_path / "lambdas"), sagemaker_backend=backend)
    with mock_aws(), installed(shims):
        shims.lifecycle.durations.job_stopping_s = STOPPING_S
        yield backend


def _wait_for(describe: Any, status: str, timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if describe() == status:
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"not {status} within {timeout} s (still {describe()})")


def test_a_stopped_local_training_job_is_stopping_for_the_lifecycles_duration(
    runner: LocalRunnerBackend,
) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    sm.create_training_job(
        TrainingJobName="local-stop",
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        OutputDataConfig={"S3OutputPath": "s3://b/out"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )

    def status() -> str:
        return str(sm.describe_training_job(TrainingJobName="local-stop")["TrainingJobStatus"])

    _wait_for(lambda: "local-stop" in runner.runs and status(), "InProgress")
    stopped_at = time.monotonic()
    sm.stop_training_job(TrainingJobName="local-stop")
    assert status() == "Stopping"
    time.sleep(0.2)  # the processes have ended by now; the state is still held
    assert runner.runs["local-stop"].status == "Stopped"
    assert status() == "Stopping"
    ended = _wait_for(status, "Stopped")
    assert ended - stopped_at >= STOPPING_S


def test_a_stopped_local_processing_job_is_stopping_for_the_lifecycles_duration(
    runner: LocalRunnerBackend,
) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    sm.create_processing_job(
        ProcessingJobName="local-proc-stop",
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}
        },
        AppSpecification={"ImageUri": "img"},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )

    def status() -> str:
        return str(sm.describe_processing_job(ProcessingJobName="local-proc-stop")["ProcessingJobStatus"])

    assert status() == "InProgress"
    stopped_at = time.monotonic()
    sm.stop_processing_job(ProcessingJobName="local-proc-stop")
    assert status() == "Stopping"
    time.sleep(0.2)  # the process has ended by now; the state is still held
    assert status() == "Stopping"
    ended = _wait_for(status, "Stopped")
    assert ended - stopped_at >= STOPPING_S
