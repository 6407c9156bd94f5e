"""`dtrain serve` against a hostile model and hostile clients, on the real model server.

The class: what the model's code does (prints at import, a child it detaches with setsid) and
what a client does (requests it starts and never finishes) must not reach past `serve`: its
stdout is the URL line and nothing else, half-sent requests do not stop it answering, and when
serve ends, by SIGTERM or by SIGKILL, no process of the model is left. Each case also runs under
a TMPDIR too deep for TorchServe's Unix sockets (108 bytes), which serve must work around.

Slow (two TorchServe starts, a JVM each, 10-40 s on 2 busy cores): one server per signal, every
check of the class made on it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import AWS_ENV, ROOT
from tests.hostile.support import MARKER_ENV, marked_pids, wait_gone

IMPORT_BANNER = "the model prints this at import"
DETACHED_TAG = "dtrain-hostile-detached-child"

INFERENCE = f"""
import subprocess
import sys

print({IMPORT_BANNER!r}, flush=True)
sys.stdout.write("and a line it never ends")
sys.stdout.flush()


def model_fn(model_dir):
    # A child in a session of its own: out of the server's process group.
    subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", {DETACHED_TAG!r}],
        start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # A daemon that detaches by double fork and ends at once: an orphan the server adopts.
    subprocess.Popen(
        [sys.executable, "-c", "import os; os.setsid(); os.fork() and os._exit(0); os._exit(0)"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return "echo"


def input_fn(body, content_type):
    return bytes(body).decode()


def predict_fn(data, model):
    return data


def output_fn(prediction, accept):
    return prediction
"""


def _model(tmp_path: Path) -> Path:
    code = tmp_path / "model" / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text(INFERENCE)
    return code.parent


def _deep_tmpdir(tmp_path: Path) -> Path:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    return deep


class Served:
    def __init__(self, tmp_path: Path) -> None:
        self.marker = uuid.uuid4().hex
        self.tmpdir = _deep_tmpdir(tmp_path)
        self.stderr_path = tmp_path / "serve.err"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "TMPDIR": str(self.tmpdir),
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
            MARKER_ENV: self.marker,
            **AWS_ENV,
        }
        model = _model(tmp_path)
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dtrain", "serve", str(model), "--port", "0", "--workers", "1"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        assert self.process.stdout is not None
        self.first_line = self.process.stdout.readline()
        assert self.first_line.startswith("http://"), f"{self.first_line!r}\n{self.stderr()[-3000:]}"
        self.url = self.first_line.strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def detached_children(self) -> list[int]:
        found = []
        for pid in marked_pids(self.marker):
            try:
                if DETACHED_TAG.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                continue
        return found

    def zombie_children(self) -> list[int]:
        """Zombies whose parent is the server's entry (the subreaper, a marked process)."""
        entries = [
            pid
            for pid in marked_pids(self.marker)
            if b"torchserve_entry" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        zombies = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if fields[0] == "Z" and int(fields[1]) in entries:
                    zombies.append(int(stat.parent.name))
        assert entries, "the server's entry process is not running"
        return zombies

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in marked_pids(self.marker):  # never leak them into other tests
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path)
    yield server
    server.close()


def _half_sent(port: int, data: bytes) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(data)
    return client


def _invoke(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": "text/plain"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return reply.status, reply.read()


def _check_serving(served: Served) -> None:
    """The URL is stdout's first line and stays alone there; half-sent requests block nothing."""
    assert served.first_line == f"{served.url}\n"
    assert IMPORT_BANNER not in served.first_line
    # Headers that never end, and a body 1000 bytes long of which 3 came: both then stall.
    stalled = [
        _half_sent(served.port, b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/pl"),
        _half_sent(
            served.port,
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 1000\r\n\r\nabc",
        ),
    ]
    try:
        start = time.monotonic()
        with urllib.request.urlopen(f"{served.url}/ping", timeout=5) as reply:
            assert reply.status == 200
        assert _invoke(served.url, b"still answering", timeout=10) == (200, b"still answering")
        assert time.monotonic() - start < 10
    finally:
        for client in stalled:
            client.close()
    deadline = time.monotonic() + 30  # model_fn ran: its child is up
    while not served.detached_children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert served.detached_children(), "the model's detached child never started"
    # The orphan that ended was reaped by the server that adopted it: no zombie piles up there.
    time.sleep(3)
    assert served.zombie_children() == []
    # The model's prints went to serve's log (stderr), after the URL line was printed.
    assert IMPORT_BANNER in served.stderr()


def test_sigterm_leaves_no_process_of_the_model_and_nothing_in_tmpdir(served: Served) -> None:
    _check_serving(served)
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=60) == 0
    assert served.process.stdout is not None
    assert served.process.stdout.read() == ""  # nothing after the URL line either
    assert wait_gone(served.marker) == []
    assert list(served.tmpdir.iterdir()) == []


def test_sigkill_of_serve_leaves_no_process_of_the_model(served: Served) -> None:
    """serve cannot act on SIGKILL: its server notices its parent is gone and stops itself,
    the model's detached child with it."""
    _check_serving(served)
    served.process.kill()
    served.process.wait()
    assert wait_gone(served.marker, seconds=40) == []


def test_a_tmpdir_too_deep_for_any_socket_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where even the short fallback does not fit, serve says which setting to change."""
    import tempfile

    from dtrain.remote.errors import UsageError
    from dtrain.serving import torchserve

    deep = _deep_tmpdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    monkeypatch.setattr(torchserve, "SHORT_TEMP_ROOT", str(deep))
    with pytest.raises(UsageError) as refused:
        torchserve.make_scratch()
    message = str(refused.value)
    assert "TMPDIR" in message and "108 bytes" in message and "\n" not in message
    assert list(deep.iterdir()) == []
