"""The emulator server's lock files (one per port, one per work directory) go with the server,
and removing them never lets two holders in.

The class: files a command leaves behind once it has ended. The lock's holder removes its file;
a taker that opened the file just before that locks a file nobody else can see, so it must
notice and take the lock on the file now at the path (or learn that someone holds that one).
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator import server_state
from dtrain.emulator.server_state import held_lock


def test_a_lock_file_goes_with_its_holder(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "emulator-8123.lock"
    with held_lock(lock) as ours:
        assert ours and lock.exists()
        with held_lock(lock) as second:
            assert not second  # flock is per open file: a second taker in one process is refused too
        assert lock.exists()  # the refused taker removes nothing
    assert not lock.exists()
    with held_lock(lock) as again:
        assert again


def test_a_taker_that_opened_the_removed_file_does_not_hold_beside_the_new_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race, made to happen: between the taker's open and its flock, the first holder
    releases (removing the file) and a third process takes the lock on a new file."""
    lock = tmp_path / "server.lock"
    first = held_lock(lock)
    assert first.__enter__()
    third = held_lock(lock)
    real_flock = fcntl.flock
    raced = []

    def flock_after_the_race(fd: int, operation: int) -> Any:
        if not raced:
            raced.append(True)
            first.__exit__(None, None, None)  # removes the file the taker has open
            assert not lock.exists()
            assert third.__enter__()  # a new file at the path, locked
        return real_flock(fd, operation)

    monkeypatch.setattr(server_state.fcntl, "flock", flock_after_the_race)
    try:
        with held_lock(lock) as taker:
            assert raced and not taker, "two holders of one lock"
    finally:
        monkeypatch.undo()
        third.__exit__(None, None, None)
    assert not lock.exists()
