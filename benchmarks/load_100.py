"""100 executions started at once while CreateTrainingJob is limited to 1 call per second.

Every execution must end SUCCEEDED with exactly one training job: none lost, none duplicated.
Prints the wall time. Run: .venv/bin/python benchmarks/load_100.py [--executions N] [--rate R]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dtrain.emulator.fixtures import standin_emulator
from dtrain.emulator.scenarios import burst

SPEC = {
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
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1.0)
    args = parser.parse_args()
    with standin_emulator() as emu:
        report = burst(emu, SPEC, executions=args.executions, rate_per_s=args.rate, timeout_s=3600)
    print(json.dumps({**report.__dict__, "exactly_one_job_each": report.exactly_one_job_each}, indent=2))
    return 0 if report.exactly_one_job_each and report.statuses == {"SUCCEEDED": args.executions} else 1


if __name__ == "__main__":
    sys.exit(main())
