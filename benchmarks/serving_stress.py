"""The serving and hosting tests under more pytest-xdist workers than `make test` uses, run again and again.

Each run starts every model server of tests/emulator/test_hosting.py, tests/serving and
tests/emulator/test_serve_entry_points.py (TorchServe, the TF Serving stack, gunicorn, the
emulator's servers) with N workers side by side, so servers pick ports and bind them while
other workers' servers and HTTP clients do the same: the race dtrain.ports exists for. Per run
it prints pass/fail counts, wall time, the machine's peak used memory and lowest available
memory (free -m's columns, sampled every 2 s: the whole machine, other users included) and the
load average before and after; then one JSON line with every run.

Run: .venv/bin/python benchmarks/serving_stress.py [--runs 3] [--workers 4] [-- extra pytest args]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FILES = ["tests/emulator/test_hosting.py", "tests/serving", "tests/emulator/test_serve_entry_points.py"]


def memory_mib() -> tuple[int, int]:
    """(used, available) in MiB as procps-ng 4's `free -m` prints them: used = total - available."""
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        info[key] = int(value.split()[0]) // 1024
    return info["MemTotal"] - info["MemAvailable"], info["MemAvailable"]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def one_run(workers: int, extra: list[str]) -> dict[str, Any]:
    peak_used, low_available = memory_mib()
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_used, low_available
        while not stop.wait(2.0):
            used, available = memory_mib()
            peak_used, low_available = max(peak_used, used), min(low_available, available)

    sampler = threading.Thread(target=sample, daemon=True)
    before = load()
    sampler.start()
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", "-n", str(workers),
         "--dist", "loadgroup", *FILES, *extra],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|error|errors)", summary)}
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return {
        "rc": done.returncode, "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0),
        "wall_s": round(wall, 1), "peak_used_mib": peak_used, "lowest_available_mib": low_available,
        "load_before": before, "load_after": load(), "failures": failed,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    runs = []
    for index in range(1, args.runs + 1):
        run = one_run(args.workers, args.extra)
        runs.append(run)
        print(
            f"run {index}: rc {run['rc']}, {run['passed']} passed, {run['failed']} failed, "
            f"{run['wall_s']:.0f} s, peak used {run['peak_used_mib']} MiB, lowest available "
            f"{run['lowest_available_mib']} MiB, load {run['load_before']} -> {run['load_after']}",
            flush=True,
        )
        for line in run["failures"]:
            print(f"  {line}", flush=True)
    print(json.dumps({"workers": args.workers, "runs": runs}))
    return 0 if all(run["rc"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
