"""SIGTERM as a request to stop at the next step boundary (spot interruption, StopTrainingJob).

SageMaker sends SIGTERM and then waits a grace period before SIGKILL; the training loop polls
``requested`` between steps, saves a checkpoint and exits cleanly. The handler only sets a flag:
nothing else is safe inside a signal handler while a collective may be in flight.
"""

from __future__ import annotations

import signal
import time
from types import FrameType


class StopRequest:
    def __init__(self) -> None:
        self.requested = False
        self.received_at: float | None = None

    def install(self) -> StopRequest:
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self.requested = True
        self.received_at = time.monotonic()
