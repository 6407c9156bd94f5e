"""scripts/mypy_cached.sh (make lint's mypy): a clone without a .mypy_cache starts from the cache
of the last passing run on the machine, and only a passing run's cache becomes that seed. The
real mypy is replaced by a small script that reports what cache it found and writes one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mypy_cached.sh"
FAKE_MYPY = """#!/usr/bin/env bash
# What the checker found: the cache's marker, or none; then it writes its own and passes or fails.
cat .mypy_cache/marker 2>/dev/null || echo none
mkdir -p .mypy_cache && echo "$MARK" > .mypy_cache/marker
exit "${FAIL:-0}"
"""


def _run(checkout: Path, seed: Path | str, mark: str, fail: bool = False) -> subprocess.CompletedProcess[str]:
    checkout.mkdir(exist_ok=True)
    fake = checkout.parent / "mypy"
    fake.write_text(FAKE_MYPY)
    fake.chmod(0o755)
    env = {**os.environ, "DTRAIN_MYPY_SEED": str(seed), "MARK": mark, "FAIL": "1" if fail else "0"}
    return subprocess.run(
        ["bash", str(SCRIPT), str(fake)], cwd=checkout, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_fresh_clone_starts_from_the_last_passing_runs_cache(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    first = _run(tmp_path / "a", seed, "from-a")
    assert (first.returncode, first.stdout) == (0, "none\n")  # nothing to start from yet
    assert (seed / "marker").read_text() == "from-a\n"
    second = _run(tmp_path / "b", seed, "from-b")
    assert (second.returncode, second.stdout) == (0, "from-a\n")
    assert (seed / "marker").read_text() == "from-b\n"
    # A checkout with a cache of its own keeps it.
    third = _run(tmp_path / "a", seed, "again-a")
    assert third.stdout == "from-a\n"


def test_a_failing_run_fails_and_leaves_the_seed_alone(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    _run(tmp_path / "a", seed, "passed")
    failed = _run(tmp_path / "b", seed, "failed", fail=True)
    assert failed.returncode == 1 and failed.stdout == "passed\n"
    assert (seed / "marker").read_text() == "passed\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "mypy", "seed", "seed.lock"]


def test_off_runs_the_checker_with_the_clones_own_cache_only(tmp_path: Path) -> None:
    _run(tmp_path / "a", tmp_path / "seed", "seeded")
    off = _run(tmp_path / "b", "off", "own")
    assert (off.returncode, off.stdout) == (0, "none\n")
    assert (tmp_path / "seed" / "marker").read_text() == "seeded\n"
