"""Metric definitions for the packaged trainers' log line.

The trainers in training_code/ print, from rank 0 only, lines such as
`epoch=3 step=1200 train_loss=0.4123 val_acc=0.9012 samples_per_sec=48211`. SageMaker turns
log lines into CloudWatch metrics with these regexes; local mode parses logs with the same
ones, so a metric seen locally is the metric seen in AWS.
"""

from __future__ import annotations

from typing import Final

_NUMBER: Final = "([0-9.eE+-]+)"

DEFAULT_METRIC_DEFINITIONS: Final[tuple[tuple[str, str], ...]] = (
    ("train:loss", f"train_loss={_NUMBER}"),
    ("validation:accuracy", f"val_acc={_NUMBER}"),
    ("train:throughput", f"samples_per_sec={_NUMBER}"),
    ("epoch", "epoch=([0-9]+)"),
    ("step", "step=([0-9]+)"),
)


def default_metric_definitions() -> list[dict[str, str]]:
    """A fresh list in the request's shape ({"Name", "Regex"}), safe to mutate."""
    return [{"Name": name, "Regex": regex} for name, regex in DEFAULT_METRIC_DEFINITIONS]
