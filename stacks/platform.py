"""The typed handle on the deployed platform that later stacks (orchestration) are built from."""

from __future__ import annotations

from dataclasses import dataclass

from dtrain.config import DtrainConfig
from stacks.network_stack import NetworkStack
from stacks.storage_stack import StorageStack
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
