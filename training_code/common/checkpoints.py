"""A directory of step-numbered checkpoints, written atomically.

A checkpoint is written to a hidden temporary file in the same directory, flushed to disk, then
renamed to ``step-<N>.ckpt``: a rename within one filesystem is atomic, so every file carrying the
final name is complete, whether the process died mid-write or SageMaker synced the directory to S3
mid-write. Framework-free: the caller supplies the function that writes the bytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

_NAME = re.compile(r"^step-(\d{9})\.ckpt$")


class CheckpointStore:
    def __init__(self, directory: Path, *, keep: int = 2) -> None:
        self.directory = directory
        self.keep = max(1, keep)

    def path_for(self, step: int) -> Path:
        return self.directory / f"step-{step:09d}.ckpt"

    def complete(self) -> list[tuple[int, Path]]:
        """Every complete checkpoint, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            match = _NAME.match(entry.name)
            if match and entry.is_file():
                found.append((int(match.group(1)), entry))
        return sorted(found)

    def newest(self) -> tuple[int, Path] | None:
        found = self.complete()
        return found[-1] if found else None

    def save(self, step: int, write: Callable[[Path], None]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.path_for(step)
        temp = self.directory / f".{final.name}.tmp-{os.getpid()}"
        try:
            write(temp)
            with open(temp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        _fsync_dir(self.directory)
        self._prune()
        return final

    def _prune(self) -> None:
        for _, path in self.complete()[: -self.keep]:
            path.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every filesystem allows opening a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
