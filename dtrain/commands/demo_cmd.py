"""`dtrain demo`: what `make demo` runs, from wherever dtrain is installed: the platform deployed
into the embedded AWS emulator, a 2-host PyTorch DDP job trained through it, the model deployed
to an emulated endpoint and asked for predictions. Its files go under ./.dtrain/demo.

The demo drives the CLI as a user would (it sits above it: pyproject.toml's layers), so the
command runs it as a program of its own (`python -m dtrain.demo`) rather than importing it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="deploy the platform into the embedded emulator, train, serve and predict (make demo)",
        description=(
            "Deploy the platform into the embedded AWS emulator, train the DDP example on 2 simulated "
            "hosts through its state machine, deploy the model to an emulated endpoint and print its "
            "predictions; falls back to `dtrain local` when the emulator cannot run. Needs no AWS "
            "account and no Docker; writes under ./.dtrain/demo."
        ),
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    return subprocess.run([sys.executable, "-m", "dtrain.demo"], check=False).returncode
