"""The one metric line format; dtrain's default metric definitions match it.

    epoch=3 step=1200 train_loss=0.4123 val_acc=0.9012 samples_per_sec=48211

Only rank 0 prints, so CloudWatch sees each value once per interval.
"""

from __future__ import annotations

import sys
from typing import TextIO


def format_metric_line(
    *,
    epoch: int,
    step: int,
    train_loss: float | None = None,
    val_acc: float | None = None,
    samples_per_sec: float | None = None,
) -> str:
    parts = [f"epoch={epoch}", f"step={step}"]
    if train_loss is not None:
        parts.append(f"train_loss={train_loss:.4f}")
    if val_acc is not None:
        parts.append(f"val_acc={val_acc:.4f}")
    if samples_per_sec is not None:
        parts.append(f"samples_per_sec={samples_per_sec:.0f}")
    return " ".join(parts)


class RankZeroLog:
    """Prints (flushed, so the log stream keeps up) only on the process that owns the job's output."""

    def __init__(self, rank: int, stream: TextIO | None = None) -> None:
        self.enabled = rank == 0
        self.stream = stream

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(message, file=self.stream or sys.stdout, flush=True)

    def metrics(self, **values: float | int | None) -> None:
        self(format_metric_line(**values))  # type: ignore[arg-type]
