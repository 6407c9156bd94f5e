"""What the remote commands share on the command line: flags, error printing, JSON output."""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dtrain.remote.aws import translate_aws_errors
from dtrain.remote.errors import EXIT_CODES_HELP, RemoteError, UsageError
from dtrain.remote.platform_stack import default_stack_name

POLL_ENV_VAR = "DTRAIN_POLL_SECONDS"
DEFAULT_POLL_SECONDS = 5.0
COMMON_EPILOG = (
    "The platform is found from the outputs of its orchestration stack (--stack, default "
    "$DTRAIN_STACK or DtrainOrchestration) in the region of --region or the usual AWS settings. "
    "AWS_ENDPOINT_URL points every call at the embedded emulator.\n\n" + EXIT_CODES_HELP
)


def add_parser(subparsers: Any, name: str, *, help: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=COMMON_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Imported lazily by the handlers; only the default is needed here.

    parser.add_argument(
        "--stack",
        default=default_stack_name(),
        help="orchestration stack name (default: $DTRAIN_STACK or DtrainOrchestration)",
    )
    parser.add_argument("--region", default=None, help="AWS region (default: the usual AWS settings)")
    parser.add_argument(
        "--team",
        default=None,
        help="on a platform with teams: the team to work for (default: $DTRAIN_TEAM, else the team "
        "your IAM role or user is named after)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    return parser


def reports_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print RemoteErrors as one line on stderr and return their exit code (no traceback).

    A botocore failure that no inner call translated (a garbled reply, a time-out in a call
    made outside `translate_aws_errors`) is translated here, so it is one line too.
    """

    @functools.wraps(handler)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            with translate_aws_errors(f"run dtrain {args.command}"):
                return handler(args)
        except RemoteError as exc:
            print(f"dtrain {args.command}: {exc.message}", file=sys.stderr)
            return exc.exit_code

    return wrapper


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def poll_seconds() -> float:
    """Seconds between polls while following a job (DTRAIN_POLL_SECONDS, for tests and demos)."""
    text = os.environ.get(POLL_ENV_VAR)
    if not text:
        return DEFAULT_POLL_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{POLL_ENV_VAR}: {text!r}: must be a number of seconds") from None
    if value < 0:
        raise UsageError(f"{POLL_ENV_VAR}: {text!r}: must not be negative")
    return value


_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`90m`, `12h`, `3d`, `2w` (ago), or an ISO 8601 date/time (UTC when no offset)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since: {text!r}: use a duration like 90m, 12h, 3d, 2w or an ISO date like 2026-11-20"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
