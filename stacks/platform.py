"""The typed handle on the platform stacks that later stacks (orchestration) are built from."""

from __future__ import annotations

from dataclasses import dataclass

from dtrain.config import DtrainConfig
from stacks.network_stack import NetworkStack
from stacks.storage_stack import JOBS_PREFIX, StorageStack
from stacks.training_stack import TrainingStack


@dataclass(frozen=True)
class Platform:
    config: DtrainConfig
    network: NetworkStack
    storage: StorageStack
    training: TrainingStack

    @property
    def stacks(self) -> tuple[NetworkStack, StorageStack, TrainingStack]:
        return (self.network, self.storage, self.training)

    @property
    def output_s3_uri(self) -> str:
        """PlatformSettings.output_s3_uri: the prefix the execution role may write job output under."""
        return f"s3://{self.storage.artifacts_bucket.bucket_name}/{JOBS_PREFIX}"

    @property
    def checkpoint_s3_uri(self) -> str:
        """PlatformSettings.checkpoint_s3_uri: per job `<this>/<job_name>`."""
        return f"s3://{self.storage.checkpoints_bucket.bucket_name}/{JOBS_PREFIX}"
