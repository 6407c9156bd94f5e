"""The `dtrain` command line: discovers subcommands in `dtrain.commands`.

Each command module exposes `register(subparsers: argparse._SubParsersAction) -> None`
and sets `func=handler` on its parser; a handler takes the parsed namespace and returns
the process exit code. Errors meant for people go to stderr, machine output to stdout.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import dtrain.commands
from dtrain.node_banners import quiet_node_banners


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dtrain",
        description="Multi-node SageMaker training from one job spec.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(dtrain.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"dtrain.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Every process a command starts (synth's jsii kernel, the CDK CLI's app.py) inherits this.
    quiet_node_banners()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
