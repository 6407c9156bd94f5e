"""What a PyTorch training checkpoint holds, and how it goes to and from a CheckpointStore.

Model, optimizer, LR schedule and grad-scaler state, the position (global step; epoch and step in
epoch follow from it and are stored for the log), the hyperparameters it was made with, and the RNG
states of rank 0. Data order and augmentation are functions of (seed, epoch, step), so an exact
resume does not depend on the RNG states; they are restored for anything else that draws.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.checkpoints import CheckpointStore

FORMAT_VERSION = 1


def capture_rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Resumed:
    step: int
    epoch: int
    step_in_epoch: int
    path: Path


def save_training_state(
    store: CheckpointStore,
    *,
    step: int,
    epoch: int,
    step_in_epoch: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler | None,
    extra: dict[str, Any],
) -> Path:
    payload = {
        "format": FORMAT_VERSION,
        "step": step,
        "epoch": epoch,
        "step_in_epoch": step_in_epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": capture_rng_state(),
        "extra": extra,
    }
    return store.save(step, lambda path: torch.save(payload, path))


def read_newest_state(store: CheckpointStore) -> tuple[Path, dict[str, Any]] | None:
    """The newest readable checkpoint's payload (CPU tensors); None when there is none.

    A checkpoint that fails to load (a truncated copy restored from S3, say) is reported and the
    next older one is tried.
    """
    for _, path in reversed(store.complete()):
        try:
            # Our own file, written by save_training_state: it holds RNG tuples and numpy state,
            # which weights_only loading refuses.
            payload = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # any unreadable file means "try the older one"
            reason = f"{type(exc).__name__}: {exc}"
            print(f"checkpoint {path} unreadable ({reason}); trying an older one", flush=True)
            continue
        return path, payload
    return None


def apply_training_state(
    payload: dict[str, Any],
    path: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler | None,
) -> Resumed:
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    if scaler is not None and payload["scaler"] is not None:
        scaler.load_state_dict(payload["scaler"])
    restore_rng_state(payload["rng"])
    return Resumed(int(payload["step"]), int(payload["epoch"]), int(payload["step_in_epoch"]), path)
