"""Where a background emulator server is recorded, and whether it is really there.

One state file per port, in the user's state directory (not the working directory: `up` in
one folder and `status` in another must see the same server): `$DTRAIN_STATE_DIR`, else
`$XDG_STATE_HOME/dtrain`, else `~/.local/state/dtrain`, file `emulator-<port>.json`. The server
writes it (atomically) once its platform is deployed and removes it when it stops; a server
killed outright leaves it behind, so every reader checks the pid and that the port answers.

A pid alone names nothing for long: once the server is gone the kernel hands it to the next
process. So the record also holds the server's identity, its start time (field 22 of
/proc/<pid>/stat, fixed for a process's life) and its command line, and nobody signals a pid
whose identity differs (`down` of a stale record would otherwise kill whatever got the pid).
A record whose pid is not a positive integer (`true`, `-1`: a process group) is not trusted.

While it runs, the server holds an exclusive lock on `emulator-<port>.lock` next to the state
file (and one on its work directory): a second server for the same port or folder gives up at
once instead of serving beside the first, and removes only a record naming itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dtrain.ports import bind_error

DEFAULT_PORT = 4599
STATE_DIR_ENV = "DTRAIN_STATE_DIR"


def state_dir() -> Path:
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "dtrain"


def state_file(port: int) -> Path:
    return state_dir() / f"emulator-{port}.json"


def write_state(port: int, state: dict[str, Any]) -> Path:
    path = state_file(port)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(state, indent=2))
    partial.replace(path)  # readers never see half a file
    return path


def read_state(port: int) -> dict[str, Any] | None:
    """The recorded state, or None (no file, or a file that is not ours to trust: removed)."""
    path = state_file(port)
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        remove_state(port)
        return None
    if not isinstance(state, dict) or not _usable_pid(state.get("pid")) or "endpoint" not in state:
        remove_state(port)
        return None
    return state


def _usable_pid(pid: object) -> bool:
    """A pid that names one process other than init: `true` is an int to Python, and 0 or a
    negative number would signal a whole process group."""
    return type(pid) is int and pid > 1


def remove_state(port: int, *, pid: int | None = None) -> None:
    """Remove the port's record; with `pid`, only if the record names that process (a server
    that lost the race for the port must not remove the winner's)."""
    path = state_file(port)
    if pid is not None:
        try:
            recorded = json.loads(path.read_text()).get("pid")
        except (OSError, ValueError, AttributeError):
            return
        if recorded != pid:
            return
    with contextlib.suppress(OSError):
        path.unlink()


def process_identity(pid: int) -> dict[str, Any] | None:
    """{"started": clock ticks after boot, "cmdline": argv} of a live process; None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # comm (field 2) may hold spaces and ')': the fields after the last ')' start at field 3.
    fields = stat.rsplit(")", 1)[1].split()
    return {
        "started": int(fields[19]),
        "cmdline": [part.decode("utf-8", "replace") for part in cmdline.split(b"\0") if part],
    }


def is_recorded_process(state: dict[str, Any]) -> bool:
    """Whether the record's pid is still the very process that wrote it."""
    now = process_identity(int(state["pid"]))
    return (
        now is not None and now["started"] == state.get("started") and now["cmdline"] == state.get("cmdline")
    )


@contextlib.contextmanager
def held_lock(path: Path) -> Iterator[bool]:
    """An exclusive flock on `path` for the `with` block; yields False at once if another
    process holds it (the kernel drops a lock with its holder, so a killed server frees it).

    The holder removes the file when the block ends (a killed holder leaves it, harmless: the
    next one locks and removes it). Removing a lock file is safe only with a re-check: a process
    that opened the file just before it was removed then locks a file no one else can find, so
    a lock counts only while `path` still names the locked file; else the taker tries again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle: IO[str] = open(path, "a+")  # noqa: SIM115 - the lock lives as long as the block
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            yield False
            return
        if _names_the_open_file(path, handle):
            break
        handle.close()  # its holder removed it after we opened it: lock the file now there
    try:
        yield True
    finally:
        path.unlink(missing_ok=True)  # still locked: a taker that opened it re-checks, as above
        handle.close()


def _names_the_open_file(path: Path, handle: IO[str]) -> bool:
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def port_lock(port: int) -> Path:
    return state_dir() / f"emulator-{port}.lock"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not a server.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def port_answers(port: int, timeout: float = 1.0) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
    except OSError:
        return False
    return True


def port_free(port: int) -> bool:
    """Whether this process could listen on 127.0.0.1:port now (what the server will do)."""
    return bind_error(port) is None


def live_state(port: int) -> tuple[dict[str, Any] | None, str | None]:
    """(state, None) for a server that is there; (None, why) for a recorded one that is gone
    (its state file is removed); (None, None) when none was recorded."""
    state = read_state(port)
    if state is None:
        return None, None
    pid = int(state["pid"])
    if not pid_alive(pid):
        why = f"the emulator recorded on port {port} (pid {pid}) is gone"
    elif not is_recorded_process(state):
        why = f"the emulator recorded on port {port} (pid {pid}) is gone; pid {pid} is now another process"
    elif not port_answers(port):
        why = f"the emulator recorded on port {port} (pid {pid}) does not answer on its port"
    else:
        return state, None
    remove_state(port, pid=pid)
    return None, why
