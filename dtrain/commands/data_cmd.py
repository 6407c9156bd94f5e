"""`dtrain data cifar10-sample DIR`: a small CIFAR-10 set in the real on-disk format.

Runs training_code/data/prepare_cifar10.py `synth` (the training helpers own the format);
the real data set cannot be downloaded here, and the scripts read the real one unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# CIFAR-10's own sizes: a sample is never bigger than the real set (100,000,000 images would
# need ~300 GB before failing).
MAX_TRAIN = 50_000
MAX_TEST = 10_000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("data", help="make sample data sets for local runs and tests")
    kinds = parser.add_subparsers(dest="data_command", metavar="KIND", required=True)
    sample = kinds.add_parser(
        "cifar10-sample",
        help="synthetic CIFAR-10 (learnable) in the python-batch format",
        description="Write a learnable synthetic CIFAR-10 set (data_batch_1..5, test_batch, batches.meta).",
    )
    sample.add_argument("dir", type=Path, help="directory to write (created if missing)")
    sample.add_argument(
        "--train", type=int, default=5000, help=f"training images, 1..{MAX_TRAIN} (default 5000)"
    )
    sample.add_argument("--test", type=int, default=1000, help=f"test images, 0..{MAX_TEST} (default 1000)")
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

    if not 1 <= args.train <= MAX_TRAIN or not 0 <= args.test <= MAX_TEST:
        print(
            f"dtrain data: --train must be at least 1 and at most {MAX_TRAIN}, --test at least 0 and "
            f"at most {MAX_TEST} (CIFAR-10's sizes)",
            file=sys.stderr,
        )
        return 2
    if args.dir.exists() and not args.dir.is_dir():
        print(f"dtrain data: {args.dir}: not a directory", file=sys.stderr)
        return 2
    try:
        args.dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"dtrain data: {args.dir}: cannot create the directory: {exc.strerror or exc}", file=sys.stderr)
        return 2
    command = cifar10_sample_command(args.dir, train=args.train, test=args.test, seed=args.seed)
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True, errors="replace")
    if done.returncode != 0:
        last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "")
        print(
            f"dtrain data: the generator failed (exit {done.returncode}): {last.strip()[:300]}",
            file=sys.stderr,
        )
        return 1
    return 0
