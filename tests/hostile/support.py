"""Helpers of the hostile-input suite (importable; conftest.py holds only the fixtures)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER_ENV = "DTRAIN_HOSTILE_CASE"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def one_line_error(self, code: int, *needles: str, trailer: str | None = None) -> str:
        """Assert the failure's shape; return the line. `trailer`: a command's closing line
        after its list of errors (submit's "nothing was submitted"), checked and set aside."""
        assert self.code == code, f"exit {self.code}, expected {code}; stderr:\n{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if trailer is not None:
            assert lines and trailer in lines[-1], f"{trailer!r} not the last line of:\n{self.stderr}"
            lines = lines[:-1]
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{self.stderr}"
        for needle in needles:
            assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
        return lines[0]


def marked_pids(marker: str) -> list[int]:
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_gone(marker: str, seconds: float = 10.0) -> list[int]:
    """The marked processes still alive after waiting up to `seconds` (reaping takes a moment)."""
    deadline = time.monotonic() + seconds
    while True:
        left = marked_pids(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


class HostileServer:
    """A TCP server on 127.0.0.1 (a free port) that misbehaves in one way for every client.

    close:   accepts, reads the request, closes without a byte
    garbage: answers with bytes that are not HTTP
    html:    a well-formed HTTP 200 whose body is an HTML page, not an AWS reply
    silent:  accepts, reads, never answers (until the test ends)
    trickle: answers 200 with a 1000-byte Content-Length, then one byte every half second
    html500: an HTTP 500 whose body is a server's HTML error page (a gateway/handler time-out)
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopped = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            if self.mode == "silent":
                self.held.append(conn)
                continue
            if self.mode == "trickle":
                self.held.append(conn)
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()
                continue
            if self.mode == "garbage":
                conn.sendall(b"\x00\xffthis is not HTTP at all\r\n\r\n")
            elif self.mode == "html500":
                body = (
                    b"<html><head><title>504 Gateway Time-out</title></head><body>"
                    b"<h1>504 Gateway Time-out</h1><p>The handler did not answer in time.</p></body></html>"
                )
                conn.sendall(
                    b"HTTP/1.1 504 Gateway Time-out\r\nContent-Type: text/html\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )
            elif self.mode == "html":
                body = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )
            conn.close()

    def _trickle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            while not self.stopped.wait(0.5):
                conn.sendall(b" ")

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


# The run block of a processing step whose script writes one output (the usual hostile case).
PREP_RUN: dict[str, Any] = {
    "code": "prep.py",
    "outputs": [{"source": "/opt/ml/processing/output/o", "destination": "s3://bucket/o"}],
}


def write_processing_spec(
    folder: Path,
    *,
    job_name: str,
    script: str,
    run: dict[str, Any],
    command: list[str] | None = None,
    instance_count: int = 1,
    train_script: str = "print('never reached')\n",
) -> Path:
    """A job spec (folder/job.json) of a processing step `prep.py` (holding `script`) before a
    training step `src/train.py`: the set-up the hostile processing tests share."""
    command = command or ["python3"]
    (folder / "prep.py").write_text(script)
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "train.py").write_text(train_script)
    spec = {
        "framework": "pytorch",
        "job_name": job_name,
        "processing": {
            "processor": {"image_uri": "ddp", "command": command, "instance_type": "ml.m5.xlarge",
                          "instance_count": instance_count},
            "run": run,
        },
        "estimator": {"entry_point": "train.py", "source_dir": "src", "image_uri": "ddp",
                      "instance_type": "ml.m5.large", "instance_count": 1},
    }  # fmt: skip
    path = folder / "job.json"
    path.write_text(json.dumps(spec))
    return path


# A job's script that ignores SIGTERM and leaves a grandchild in its own session doing the same,
# then writes READY_FILE: what a stop must still end, whole (training and processing alike).
STUBBORN_JOB = """\
import os, signal, subprocess, sys, time
from pathlib import Path
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c",
    "import os, signal, time; os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
Path(os.environ["READY_FILE"]).write_text("ready")
time.sleep(600)
"""
