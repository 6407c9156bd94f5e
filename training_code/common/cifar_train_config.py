"""The hyperparameters of the PyTorch CIFAR-10 trainers (DDP and Horovod), and the pieces of the
recipe they share: determinism switches and the learning-rate schedule."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from common.sagemaker_env import ContractError, Hyperparameters


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
        d = cls()
        config = cls(
            epochs=hps.get_int("epochs", d.epochs),
            batch_size=hps.get_int("batch_size", d.batch_size),
            lr=hps.get_float("lr", d.lr),
            momentum=hps.get_float("momentum", d.momentum),
            weight_decay=hps.get_float("weight_decay", d.weight_decay),
            label_smoothing=hps.get_float("label_smoothing", d.label_smoothing),
            warmup_fraction=hps.get_float("warmup_fraction", d.warmup_fraction),
            seed=hps.get_int("seed", d.seed),
            width=hps.get_int("width", d.width),
            checkpoint_every_steps=hps.get_int("checkpoint_every_steps", d.checkpoint_every_steps),
            keep_checkpoints=hps.get_int("keep_checkpoints", d.keep_checkpoints),
            log_every_steps=hps.get_int("log_every_steps", d.log_every_steps),
            deterministic=hps.get_bool("deterministic", d.deterministic),
            compile=hps.get_bool("compile", d.compile),
            max_steps=hps.optional_int("max_steps"),
            prewarm=hps.optional_bool("prewarm"),
        )
        for name in ("epochs", "batch_size", "width", "keep_checkpoints"):
            if getattr(config, name) < 1:
                raise ContractError(f"hyperparameters.{name}", getattr(config, name), "must be at least 1")
        if config.max_steps is not None and config.max_steps < 1:
            raise ContractError("hyperparameters.max_steps", config.max_steps, "must be at least 1")
        return config


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
