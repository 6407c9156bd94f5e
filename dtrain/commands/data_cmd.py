"""`dtrain data cifar10-sample DIR`: a small CIFAR-10 set in the real on-disk format.

Runs training_code/data/prepare_cifar10.py `synth` (the training helpers own the format);
the real data set cannot be downloaded here, and the scripts read the real one unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("data", help="make sample data sets for local runs and tests")
    kinds = parser.add_subparsers(dest="data_command", metavar="KIND", required=True)
    sample = kinds.add_parser(
        "cifar10-sample",
        help="synthetic CIFAR-10 (learnable) in the python-batch format",
        description="Write a learnable synthetic CIFAR-10 set (data_batch_1..5, test_batch, batches.meta).",
    )
    sample.add_argument("dir", type=Path, help="directory to write (created if missing)")
    sample.add_argument("--train", type=int, default=5000, help="training images (default 5000)")
    sample.add_argument("--test", type=int, default=1000, help="test images (default 1000)")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=handle)


def cifar10_sample_command(directory: Path, *, train: int, test: int, seed: int = 0) -> list[str]:
    import sys

    from dtrain.local.config import training_code_dir

    script = training_code_dir() / "data" / "prepare_cifar10.py"
    return [sys.executable, str(script), "synth", str(directory), "--train", str(train), "--test", str(test),
            "--seed", str(seed)]  # fmt: skip


def make_cifar10_sample(directory: Path, *, train: int, test: int, seed: int = 0) -> None:
    """Generate the sample set; raises CalledProcessError when the generator fails."""
    import subprocess

    subprocess.run(cifar10_sample_command(directory, train=train, test=test, seed=seed), check=True)


def handle(args: argparse.Namespace) -> int:
    import subprocess
    import sys

    if args.train < 1 or args.test < 0:
        print("error: --train must be at least 1 and --test at least 0", file=sys.stderr)
        return 2
    command = cifar10_sample_command(args.dir, train=args.train, test=args.test, seed=args.seed)
    return subprocess.run(command).returncode
