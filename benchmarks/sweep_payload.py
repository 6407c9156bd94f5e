"""Largest state payload of a 200-item sweep (the spec's maximum) run through the emulator.

Step Functions fails an execution whose state input or output passes 256 KiB with
States.DataLimitExceeded, which no Catch handles. The emulator enforces that limit and
records the largest input/output any state had (dtrain.emulator.service_behaviour); this
script runs one sweep of N items, every job completing with realistic DescribeTrainingJob
output (secondary status transitions, metrics), and prints

    <N> bytes

(the largest payload), then, on stderr, which state had it and how the execution ended.

Run: .venv/bin/python benchmarks/sweep_payload.py [--items 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dtrain.emulator.fixtures import standin_emulator
from dtrain.emulator.sagemaker import EventPlaybackBackend


def sweep_spec(items: int) -> dict[str, Any]:
    return {
        "framework": "pytorch",
        "estimator": {
            "entry_point": "train_ddp.py",
            "image_uri": "ddp",
            "instance_type": "ml.g5.12xlarge",
            "instance_count": 2,
            "distribution": {"torch_distributed": {"enabled": True}},
            "hyperparameters": {"epochs": 1},
            "max_run": 3600,
        },
        "inputs": {"train": "s3://data-bucket/cifar10/train"},
        "sweep": {
            "max_concurrency": 40,
            "objective": {"metric": "validation:accuracy", "goal": "maximize"},
            "overrides": [{"lr": round(0.001 * (i + 1), 6)} for i in range(items)],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    backend = EventPlaybackBackend(
        auto_complete_after_s=0.05, auto_metrics={"validation:accuracy": 0.9, "train:loss": 0.25}
    )
    with standin_emulator(sagemaker=backend) as emu:
        start = time.perf_counter()
        arn = emu.start_execution(sweep_spec(args.items))
        desc = emu.wait_execution(arn, timeout=1800, poll_s=0.5)
        meter = emu.behaviour.payloads
        print(f"{meter.largest_bytes} bytes")
        print(
            f"largest in state {meter.largest_state!r}; execution {desc['status']}"
            f" {desc.get('error') or ''} after {time.perf_counter() - start:.0f} s;"
            f" {len(backend.jobs)} jobs",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
