"""CLI subcommands: each module here defines `register(subparsers)`.

`dtrain.cli` discovers the modules of this package, so a new command is one new file.
Modules keep heavy imports inside their handlers: `dtrain --help` must stay instant.

The argparse value types several commands share live here, beside the discovery rule (a module
of this package is a command).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def bounded_int(
    low: int, high: int | None = None, *, noun: str = "an integer", rule: str | None = None
) -> Callable[[str], int]:
    """A `type=` for an integer in low..high (no upper bound when `high` is None); `noun` names
    what a non-integer is not, `rule` replaces the bounds as the message of one out of them."""
    if rule is None:
        rule = f"must be at least {low}" if high is None else f"must be {low}..{high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: not {noun}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value}: {rule}")
        return value

    return parse
