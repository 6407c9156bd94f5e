"""Lambda's log delivery for the emulator's in-process runtime.

Lambda sends whatever a function writes to stdout to its log group, one event per line, in a
stream per execution environment (`YYYY/MM/DD/[$LATEST]<id>`; "Sending Lambda function logs to
CloudWatch Logs", https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html).
The emulator runs the handlers inside the process of the command that started it, so without
this the Powertools JSON records and EMF blobs of every invocation would land on that command's
screen. Here each invocation writes through `dtrain.orchestration.log_delivery`'s sink to the
function's own log group (the stack's `LoggingConfig.LogGroup`, which moto's Lambda drops, so it
is recorded when the function is created) and, when asked, to one file as well (`make demo`
names it at the end). `dtrain logs` and any CloudWatch Logs client then read them as on AWS.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from dtrain.orchestration.log_delivery import delivered_to

# The attribute the create patch leaves on moto's LambdaFunction: the group its LoggingConfig names.
_GROUP_ATTRIBUTE = "dtrain_log_group"


def log_group_of(fn: Any) -> str:
    """The function's log group: its LoggingConfig's, else Lambda's default `/aws/lambda/<name>`."""
    return str(getattr(fn, _GROUP_ATTRIBUTE, None) or f"/aws/lambda/{fn.function_name}")


class LambdaLogDelivery:
    """One per emulator: each function's lines to its log group, optionally also to `file`."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self._lock = threading.Lock()
        # One stream per function for the emulator's life: one warm execution environment each.
        self._streams: dict[str, str] = {}

    @contextmanager
    def invocation(self, fn: Any) -> Iterator[None]:
        """Within the block, the function's writes become log events (whole lines; a last line
        without its newline is delivered when the invocation ends)."""
        pending: list[str] = []

        def write(text: str) -> None:
            pending.append(text)
            if "\n" in text:
                joined = "".join(pending)
                complete, _, rest = joined.rpartition("\n")
                pending[:] = [rest] if rest else []
                self._deliver(fn, complete.split("\n"))

        try:
            with delivered_to(write):
                yield
        finally:
            if pending:
                self._deliver(fn, ["".join(pending)])

    def error_report(self, fn: Any, text: str) -> None:
        """The runtime's report of an invocation's error: one event, its lines kept together."""
        self._deliver(fn, [text])

    def _deliver(self, fn: Any, lines: list[str]) -> None:
        messages = [line for line in lines if line.strip()]  # PutLogEvents refuses empty messages
        if not messages:
            return
        now = int(time.time() * 1000)
        group_name = log_group_of(fn)
        with self._lock:
            backend = fn.logs_backend
            backend.ensure_log_group(group_name)
            group = backend.groups[group_name]
            stream = self._streams.get(fn.function_name)
            if stream is None or stream not in group.streams:
                day = datetime.fromtimestamp(now / 1000, tz=UTC).strftime("%Y/%m/%d")
                stream = f"{day}/[$LATEST]{uuid.uuid4().hex}"
                group.create_log_stream(stream)
                self._streams[fn.function_name] = stream
            group.put_log_events(stream, [{"timestamp": now, "message": m} for m in messages])
            if self.file is not None:
                with self.file.open("a", encoding="utf-8") as out:
                    out.writelines(f"{fn.function_name} {m}\n" for m in messages)


@contextmanager
def logging_config_recorded() -> Iterator[None]:
    """While installed, a function created from a template remembers its LoggingConfig's group."""
    from moto.awslambda.models import LambdaFunction

    original: Callable[..., Any] = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        fn = original(cls, resource_name, cloudformation_json, *args, **kwargs)
        group = ((cloudformation_json.get("Properties") or {}).get("LoggingConfig") or {}).get("LogGroup")
        if isinstance(group, str) and group:
            setattr(fn, _GROUP_ATTRIBUTE, group)
        return fn

    with mock.patch.object(LambdaFunction, "create_from_cloudformation_json", classmethod(create)):
        yield
