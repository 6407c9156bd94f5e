"""Starting a background emulator server and serving until told to stop, on every exit path.

`start_in_background` is the `up` side: it refuses a port in use before starting anything,
starts the server in a session of its own, waits for its state file (checking that the
process is still alive), and on a time-out, a failed start, Ctrl-C or SIGTERM ends the
server's whole process group (synth's Node.js included) before returning.
`serve_until_signalled` is the server side: SIGTERM, SIGHUP and SIGINT unwind it (its `with`
blocks stop the HTTP server, its `finally` removes the state file), whatever phase it is in.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dtrain.emulator.server_state import (
    is_recorded_process,
    live_state,
    pid_alive,
    port_free,
    read_state,
    remove_state,
)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class StartFailed(Exception):
    """One line for the user, and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _last_log_line(log_path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1][:200]
    return ""


def _end_group(proc: subprocess.Popen[bytes], scratch: Path | None, grace: float = 10.0) -> None:
    """SIGTERM to the server (it unwinds and stops its children itself), SIGKILL to its whole
    process group after `grace` (whatever is left), then its scratch folder goes."""

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if scratch is not None and scratch_owner(scratch) == proc.pid:  # its own, not a folder it found
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def start_in_background(
    cmd: list[str], *, port: int, log_path: Path, timeout: float, scratch: Path | None = None
) -> dict[str, Any]:
    """Start the server; its state once it is up. StartFailed (nothing left running) otherwise."""
    if not 1 <= port <= 65535:
        raise StartFailed(f"--port {port}: must be 1..65535", EXIT_USAGE)
    if not port_free(port):
        raise StartFailed(
            f"port {port} on 127.0.0.1 is in use by another program; pick another with --port", EXIT_USAGE
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    try:
        with _sigterm_as_interrupt():
            while True:
                state = read_state(port)
                if state is not None and state["pid"] == proc.pid:
                    return state
                if proc.poll() is not None:
                    why = _last_log_line(log_path)
                    raise StartFailed(
                        f"the emulator server exited ({proc.returncode}) before it was up"
                        + (f": {why}" if why else "")
                        + f"; log: {log_path}",
                        EXIT_FAILED,
                    )
                if time.monotonic() > deadline:
                    _end_group(proc, scratch)
                    raise StartFailed(
                        f"the emulator was not up after {timeout:g} s (stopped it); log: {log_path}",
                        EXIT_FAILED,
                    )
                time.sleep(0.2)
    except KeyboardInterrupt:
        _end_group(proc, scratch)
        remove_state(port, pid=proc.pid)  # another server's record (it won the port) stays
        raise StartFailed("interrupted: the emulator server was stopped", EXIT_INTERRUPTED) from None


def check_not_running(port: int) -> tuple[dict[str, Any] | None, str | None]:
    """live_state, for `up`: a live server is reused, a dead one's record is dropped."""
    return live_state(port)


def stop_server(state: dict[str, Any], *, seconds: float = 30.0) -> bool:
    """SIGTERM to the recorded server; True once it is gone.

    The pid is pinned first (a pidfd names one process, never its successor), then checked to
    be the process that wrote the record (start time and command line): a pid reused by
    another program since is never signalled, it counts as gone."""

    pid = int(state["pid"])
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not is_recorded_process(state):
            return True
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)  # readable once the process has exited
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if poller.poll(200) or not pid_alive(pid):
                return True
        return False
    finally:
        os.close(pidfd)


@contextlib.contextmanager
def private_tmpdir(workdir: Path) -> Iterator[Path]:
    """TMPDIR for the server and its children (synth's Node.js, jsii's kernel) under its own
    workdir, removed when the server ends: a server stopped mid-synth leaves no temporary
    files behind, and `up` removes this folder too when it had to kill the server's group."""

    scratch = server_scratch(workdir)
    if scratch.exists() and scratch_owner(scratch) is None and any(scratch.iterdir()):
        # The user's own folder named tmp: it is neither emptied nor removed.
        raise ScratchNotOurs(
            f"--workdir {workdir}: {scratch} exists and is not the emulator's scratch folder"
        )
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / SCRATCH_OWNER).write_text(str(os.getpid()))
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None  # re-read TMPDIR
    try:
        yield scratch
    finally:
        if previous is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous
        tempfile.tempdir = None
        shutil.rmtree(scratch, ignore_errors=True)


def server_scratch(workdir: Path) -> Path:
    return workdir.resolve() / "tmp"


SCRATCH_OWNER = ".dtrain-emulator-pid"


class ScratchNotOurs(Exception):
    """The work directory's tmp folder was there before the emulator and holds other files."""


def scratch_owner(scratch: Path) -> int | None:
    """The pid of the server that made this scratch folder (None: not an emulator's)."""
    try:
        return int((scratch / SCRATCH_OWNER).read_text())
    except (OSError, ValueError):
        return None


class Stop(BaseException):
    """Raised by the server's signal handlers: unwinds whatever phase the server is in."""


_stop_requested: list[int] = []


def install_server_signals() -> None:
    def stop(signum: int, frame: object) -> None:
        # Remember the signal before raising: an exception raised while the main thread runs a
        # finalizer (a __del__ run by the garbage collector) is printed and dropped by Python,
        # so serve_until_signalled also polls this record (a `down` right after `up` hit that).
        _stop_requested.append(signum)
        raise Stop(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, stop)


def serve_until_signalled() -> None:
    """Block until SIGTERM/SIGHUP/SIGINT (install_server_signals first)."""
    while not _stop_requested:
        time.sleep(0.5)
    raise Stop(_stop_requested[0])
