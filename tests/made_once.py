"""A folder made once per test session and shared by the pytest-xdist workers that ask for it."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Callable
from pathlib import Path


def made_once(root: Path, key: str, make: Callable[[Path], None]) -> Path:
    """`<root>/<key>`, made by `make(folder)` for the session's first caller. Callers on other
    workers wait on `<root>/<key>.lock` and then read it. A make that failed leaves no
    `<key>.done` mark (it sits beside the folder, not in it), so the next caller makes it again
    from an empty folder."""
    root.mkdir(parents=True, exist_ok=True)
    folder = root / key
    with (root / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = root / f"{key}.done"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.write_text("")
    return folder
