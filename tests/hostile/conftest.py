"""Fixtures of the hostile-input suite: a CLI runner that checks the failure's shape, and
hostile servers standing in for an AWS endpoint.

Every case asserts the same contract: the exit code, ONE line on stderr naming the field or
the cause, no traceback, and nothing left behind (no process carrying the case's marker
variable, no file in the case's own TMPDIR). Cases run in-process (`cli`) where only the
message and the code matter, in a subprocess (`cli_process`) where the exit path itself
(signals, process groups, interpreter exit) is what is tested.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hostile.support import MARKER_ENV, HostileServer, Outcome, wait_gone

ROOT = Path(__file__).resolve().parents[2]

# No real credentials, profile or instance metadata, whatever the developer's machine has.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "hostile",
    "AWS_SECRET_ACCESS_KEY": "hostile",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/dtrain-hostile/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/dtrain-hostile/config",
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake AWS settings in this process's environment, for a case calling moto in-process."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def listener() -> Iterator[int]:
    """A port that answers, as a live emulator's would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def case_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A clean environment for one case: its own TMPDIR and HOME, a marker, fake AWS settings.

    After the case: no process carries the marker, TMPDIR is empty.
    """
    marker = uuid.uuid4().hex
    tmpdir = tmp_path / "tmp"
    home = tmp_path / "home"
    tmpdir.mkdir()
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmpdir),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
        MARKER_ENV: marker,
        **AWS_ENV,
    }
    yield env
    left = wait_gone(marker)
    for pid in left:  # do not leak them into the next case, but fail this one
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    assert not left, f"processes left behind: {left}"
    assert not list(tmpdir.iterdir()), f"temporary files left: {list(tmpdir.iterdir())}"


@pytest.fixture
def cli_process(case_env: dict[str, str]) -> Callable[..., Outcome]:
    """Run `python -m dtrain ARGS` in a subprocess with the case's environment."""

    def run(*args: str, extra_env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 60) -> Outcome:  # fmt: skip
        env = {**case_env, **(extra_env or {})}
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "dtrain", *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Outcome(done.returncode, done.stdout, done.stderr, time.monotonic() - start)

    return run


@pytest.fixture
def cli(
    case_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Outcome]:
    """Run `dtrain ARGS` in this process (fast), with the case's environment."""
    from dtrain.cli import main

    def run(*args: str, extra_env: dict[str, str] | None = None) -> Outcome:
        for key in list(os.environ):
            if key.startswith("AWS_") or key.startswith("DTRAIN_"):
                monkeypatch.delenv(key)
        for key, value in {**case_env, **(extra_env or {})}.items():
            monkeypatch.setenv(key, value)
        import tempfile

        monkeypatch.setattr(tempfile, "tempdir", case_env["TMPDIR"])
        capsys.readouterr()
        start = time.monotonic()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        out = capsys.readouterr()
        return Outcome(code, out.out, out.err, time.monotonic() - start)

    return run


@pytest.fixture
def hostile_server() -> Iterator[Callable[[str], HostileServer]]:
    servers: list[HostileServer] = []

    def start(mode: str) -> HostileServer:
        server = HostileServer(mode)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
