"""Where a background emulator server is recorded, and whether it is really there.

One state file per port, in the user's state directory (not the working directory: `up` in
one folder and `status` in another must see the same server): `$DTRAIN_STATE_DIR`, else
`$XDG_STATE_HOME/dtrain`, else `~/.local/state/dtrain`, file `emulator-<port>.json`. The server
writes it (atomically) once its platform is deployed and removes it when it stops; a server
killed outright leaves it behind, so every reader checks the pid and that the port answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

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
    if not isinstance(state, dict) or not isinstance(state.get("pid"), int) or "endpoint" not in state:
        remove_state(port)
        return None
    return state


def remove_state(port: int) -> None:
    with contextlib.suppress(OSError):
        state_file(port).unlink()


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
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def live_state(port: int) -> tuple[dict[str, Any] | None, str | None]:
    """(state, None) for a server that is there; (None, why) for a recorded one that is gone
    (its state file is removed); (None, None) when none was recorded."""
    state = read_state(port)
    if state is None:
        return None, None
    pid = int(state["pid"])
    if not pid_alive(pid):
        why = f"the emulator recorded on port {port} (pid {pid}) is gone"
    elif not port_answers(port):
        why = f"the emulator recorded on port {port} (pid {pid}) does not answer on its port"
    else:
        return state, None
    remove_state(port)
    return None, why
