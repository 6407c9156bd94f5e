"""Where the orchestration functions' log lines go when no Lambda runtime collects them.

In Lambda a function's stdout is its log group: the runtime sends every line there. The emulator
runs the handlers inside another program's process (the CLI, `make demo`, the tests), whose
screen belongs to that program; it plays Lambda's part by setting a sink for each invocation
(`delivered_to`), and `observability` writes the function's records and metric blobs to it.
Standard library only: the Lambda assets carry this module, and the emulator sets the sink
without importing Powertools.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LineSink = Callable[[str], None]

# A context variable: the emulator runs functions concurrently (threads) and nested (a Lambda
# whose AWS call triggers another Lambda), each invocation with its own sink.
_sink: contextvars.ContextVar[LineSink | None] = contextvars.ContextVar("dtrain_log_sink", default=None)


def current_sink() -> LineSink | None:
    """The sink of the invocation in progress, or None (then the caller's own stream is used)."""
    return _sink.get()


@contextmanager
def delivered_to(sink: LineSink | None) -> Iterator[None]:
    """Within this block, what the function writes goes to `sink` (None: as without a sink)."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)
