"""Each in-process Lambda sees its own environment variables, as each Lambda does in AWS.

Handlers read `os.environ` (LEDGER_TABLE, DTRAIN_PLATFORM, ...), which is one mapping per
process; the emulator runs every function in one process, so two platforms' functions (or two
functions of one platform) that set one name differently would read each other's values. While
installed, `os.environ` is a view that looks first at the variables of the function the current
thread is running (`function_environment`), then at the process's own: reads, writes and
deletes inside a function stay in its own variables; outside one they go to the process as
before. `os.getenv` reads through the view too (it looks `environ` up in the os module).

Not covered: a child process a handler starts gets the process environment (subprocess copies the
C-level environment), and threads a handler starts see the process's variables.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

_local = threading.local()
_MISSING = object()


class _FunctionEnviron(MutableMapping[str, str]):
    """os.environ with the running function's variables in front."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process

    @staticmethod
    def _own() -> dict[str, str | None] | None:
        own: dict[str, str | None] | None = getattr(_local, "variables", None)
        return own

    def __getitem__(self, name: str) -> str:
        own = self._own()
        if own is not None and name in own:
            value = own[name]
            if value is None:  # deleted inside the function
                raise KeyError(name)
            return value
        return self.process[name]

    def __setitem__(self, name: str, value: str) -> None:
        own = self._own()
        if own is None:
            self.process[name] = value
        else:
            own[name] = str(value)

    def __delitem__(self, name: str) -> None:
        own = self._own()
        if own is None:
            del self.process[name]
            return
        if name not in self:
            raise KeyError(name)
        own[name] = None

    def _names(self) -> list[str]:
        own = self._own() or {}
        hidden = {k for k, v in own.items() if v is None}
        return [k for k in self.process if k not in own and k not in hidden] + [
            k for k, v in own.items() if v is not None
        ]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def copy(self) -> dict[str, str]:
        return dict(self)


@contextmanager
def installed() -> Iterator[None]:
    """Put the view in place of os.environ for the block (nested installs share one view)."""
    if isinstance(os.environ, _FunctionEnviron):
        yield
        return
    process = os.environ
    # A view in front of the process environment, not a replacement of it (B003's concern).
    os.environ = _FunctionEnviron(process)  # type: ignore[assignment]  # noqa: B003
    try:
        yield
    finally:
        os.environ = process  # noqa: B003


@contextmanager
def function_environment(variables: dict[str, str]) -> Iterator[None]:
    """The current thread runs a function with these variables (on top of the process's)."""
    saved = getattr(_local, "variables", None)
    _local.variables = dict(variables)
    try:
        yield
    finally:
        _local.variables = saved
