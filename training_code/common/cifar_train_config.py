"""The hyperparameters of the PyTorch CIFAR-10 trainers (DDP and Horovod), and the pieces of the
recipe they share: determinism switches and the learning-rate schedule."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from common.config_fields import config_from_hyperparameters
from common.sagemaker_env import Hyperparameters


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 512  # global: split evenly over the ranks
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.2
    warmup_fraction: float = 0.1
    seed: int = 0
    width: int = 64
    # Bounds the work a SIGKILL loses (no SIGTERM first: a host failure, a signal that never
    # reached the ranks): at the default global batch of 512 a CIFAR-10 epoch is 98 steps, so about
    # one epoch, as the Keras trainer's checkpoint at each epoch end. 0: only at SIGTERM.
    checkpoint_every_steps: int = 100
    keep_checkpoints: int = 2
    log_every_steps: int = 0  # 0: one metric line per epoch
    deterministic: bool = False
    compile: bool = False
    max_steps: int | None = None
    # One forward/backward on a throwaway batch (and one evaluation chunk) before the first step,
    # leaving no trace in the weights: cuDNN autotuning, torch.compile and first-use allocations
    # happen before the clock of the first epoch. None: on a GPU or when compiling (on a CPU there
    # is nothing to tune, and the step would only delay the first one).
    prewarm: bool | None = None

    @classmethod
    def from_hyperparameters(cls, hps: Hyperparameters) -> TrainConfig:
        return config_from_hyperparameters(
            cls, hps, at_least_one=("epochs", "batch_size", "width", "keep_checkpoints", "max_steps")
        )


def set_determinism(config: TrainConfig) -> None:
    torch.manual_seed(config.seed)
    if config.deterministic:
        # cuBLAS needs a fixed workspace for reproducible GEMMs; set before the first CUDA call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


def lr_lambda(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor
