"""A server process that stops by itself when the process that started it is gone.

The process that starts a model server (`dtrain serve`, the emulator) stops it on every normal
exit; one killed outright (SIGKILL, OOM) cannot, and its server would keep the port and the
model's memory. A child is re-parented when its parent dies: it then sends itself SIGTERM, and
stops as it would when asked. (PR_SET_PDEATHSIG would fire when the *thread* that started it
ends, and the emulator starts endpoints from threads that end.) Standard library only: the TF
Serving image's Python (3.10) runs it too.
"""

from __future__ import annotations

import os
import signal
import threading
import time


def watch_parent(parent: int, interval: float = 1.0) -> None:
    """SIGTERM to this process once its parent is no longer `parent` (0: no watch)."""
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
