"""What the emulator's batch transform puts in its container's environment, as SageMaker does."""

from __future__ import annotations

from types import SimpleNamespace

from dtrain.emulator.hosting import transform_env


def test_transform_env_names_the_jobs_payload_strategy_and_concurrency() -> None:
    job = SimpleNamespace(
        environment={"BATCH": "1"},
        max_payload_in_mb=100,
        batch_strategy="MultiRecord",
        max_concurrent_transforms=4,
    )
    assert transform_env(job) == {
        "BATCH": "1",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "100",
        "SAGEMAKER_BATCH_STRATEGY": "MultiRecord",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "4",
    }


def test_transform_env_defaults_are_the_apis() -> None:
    job = SimpleNamespace(
        environment=None, max_payload_in_mb=None, batch_strategy=None, max_concurrent_transforms=None
    )
    env = transform_env(job)
    assert env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "6"  # CreateTransformJob: MaxPayloadInMB default 6
    assert env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] == "1"
