"""Errors local mode reports to people: one line, naming what was wrong and what to do."""

from __future__ import annotations


class LocalModeError(Exception):
    """A local run cannot go on. `kind` follows SageMaker's FailureReason prefixes.

    `ClientError` is the caller's input (a channel path, a port, a missing launcher);
    `AlgorithmError` is the training code itself failing.
    """

    def __init__(self, cause: str, *, kind: str = "ClientError") -> None:
        super().__init__(cause)
        self.cause = cause
        self.kind = kind

    @property
    def failure_reason(self) -> str:
        return f"{self.kind}: {self.cause}"
