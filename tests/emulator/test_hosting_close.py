"""When the emulator closes, its model servers are stopped without SageMaker's drain time (no
request can reach them after it) and all at once: make demo's tear-down waited ~3 s for
TorchServe's JVM to exit on SIGTERM (issue 32)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from dtrain.emulator.hosting import HostingBackend, ServedModel


class _Server:
    """Stands in for dtrain.serving's ServerHandle: records the grace it got; a server given
    time to drain takes 1 s to exit."""

    def __init__(self, started: threading.Barrier) -> None:
        self.started = started
        self.grace: float | None = None

    def stop(self, timeout: float = 15.0) -> None:
        self.grace = timeout
        self.started.wait(timeout=5)  # every server is being stopped at the same time
        if timeout > 0:
            time.sleep(1.0)


def test_close_stops_every_server_at_once_without_a_drain(tmp_path: Path) -> None:
    together = threading.Barrier(3)
    servers = [_Server(together) for _ in range(3)]
    backend = HostingBackend(workdir=tmp_path)
    for i, server in enumerate(servers):
        scratch = tmp_path / f"endpoint-{i}"
        scratch.mkdir()
        url = f"http://127.0.0.1:{8000 + i}"
        backend.endpoints[f"ep-{i}"] = ServedModel(url=url, handle=server, scratch=scratch)
    started = time.monotonic()
    backend.close()
    assert time.monotonic() - started < 1.0
    assert [s.grace for s in servers] == [0.0, 0.0, 0.0]
    assert backend.endpoints == {} and sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_deleted_endpoints_server_still_gets_time_to_answer_its_requests(tmp_path: Path) -> None:
    server = _Server(threading.Barrier(1))
    ServedModel(url="http://127.0.0.1:8000", handle=server, scratch=tmp_path / "gone").stop()
    assert server.grace == 15.0
