"""Where `make test`'s time goes: set-up, then lint, the main suite and the Lambda-runtime suite.

Runs `make test`'s schedule with the Makefile's own targets: `make -j4 setup`, then the targets the
Makefile's CHECKS names (lint, pytest-main, pytest-lambda) side by side, each in its own `make`, as
`make test` runs them (--serial: one after another, the schedule before they ran side by side). It
runs in a fresh `git clone` of this checkout's HEAD (the default: what CI sees, with whatever
package caches the machine has warm) or in this checkout (--here). For each phase it prints the wall
time and the CPU time (user + sys of that `make` and every process it waited for, from wait4),
then the checks' wall time together, the whole, the load average before and after, and one JSON
line. On a shared machine wall times inflate with the load while CPU times move much less:
compare runs made at the same load.

Run: .venv/bin/python benchmarks/suite_time.py [--here | --checkout DIR] [--workers N]
         [--phases setup,lint,pytest-main,pytest-lambda] [--serial] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
SETUP = "setup"


def checks_of(makefile: Path) -> list[str]:
    """The targets `make test` runs side by side after the set-up (the Makefile's CHECKS)."""
    found = re.search(r"^CHECKS\s*:?=\s*(.+)$", makefile.read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"{makefile} defines no CHECKS (the targets make test runs after setup)")
    return found.group(1).split()


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _make(checkout: Path, args: list[str], workers: str | None, log: IO[bytes]) -> subprocess.Popen[bytes]:
    cmd = ["make", "--no-print-directory", *args]
    if workers is not None:
        cmd.append(f"PYTEST_WORKERS={workers}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.Popen(cmd, cwd=checkout, stdout=log, stderr=subprocess.STDOUT, env=env)


def run_side_by_side(
    checkout: Path, phases: dict[str, list[str]], workers: str | None, logs: Path
) -> tuple[dict[str, dict[str, float | int]], float]:
    """Start one `make` per phase at once; per phase (wall s, CPU s, exit code), and the wall
    time until the last one ended. wait4 gives each make's own CPU, its children's included."""
    started = time.perf_counter()
    running: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}
    for name, args in phases.items():
        with (logs / f"{name}.log").open("wb") as log:
            proc = _make(checkout, args, workers, log)
        running[proc.pid] = (name, proc)
    results: dict[str, dict[str, float | int]] = {}
    while running:
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        name, proc = running.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        results[name] = {
            "wall_s": round(wall, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "exit": proc.returncode,
        }
        print(
            f"{name:<14} {wall:7.1f} s wall  {results[name]['cpu_s']:7.1f} s CPU  exit {proc.returncode}",
            flush=True,
        )
    return {name: results[name] for name in phases}, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--here", action="store_true", help="time this checkout instead of a fresh clone")
    parser.add_argument(
        "--checkout", type=Path, help="time this existing checkout (e.g. a clone made before)"
    )
    parser.add_argument(
        "--workers", default=None, help="PYTEST_WORKERS for the main suite (Makefile default)"
    )
    parser.add_argument("--phases", default=None, help="comma-separated: setup and/or the CHECKS targets")
    parser.add_argument(
        "--serial", action="store_true", help="the checks one after another instead of side by side"
    )
    parser.add_argument("--keep", action="store_true", help="keep the clone and the logs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dtrain-suite-time-"))
    checkout = args.checkout or ROOT
    if not args.here and args.checkout is None:
        checkout = work / "dtrain"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True)
    checks = checks_of(checkout / "Makefile")
    known = [SETUP, *checks]
    phases = [p for p in (args.phases or ",".join(known)).split(",") if p]
    unknown = [p for p in phases if p not in known]
    if unknown:
        parser.error(f"--phases: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    print(f"checkout {checkout} (logs in {work}); load before {_load()}", file=sys.stderr)

    results: dict[str, dict[str, float | int]] = {}
    walls: dict[str, float] = {}
    if SETUP in phases:
        done, walls[SETUP] = run_side_by_side(checkout, {SETUP: ["-j4", SETUP]}, args.workers, work)
        results.update(done)
    failed = any(r["exit"] != 0 for r in results.values())
    wanted = [p for p in phases if p != SETUP]
    if wanted and not failed:
        if args.serial:
            walls["checks"] = 0.0
            for phase in wanted:
                done, wall = run_side_by_side(checkout, {phase: [phase]}, args.workers, work)
                results.update(done)
                walls["checks"] += wall
        else:
            done, walls["checks"] = run_side_by_side(checkout, {p: [p] for p in wanted}, args.workers, work)
            results.update(done)
            print(f"{'checks':<14} {walls['checks']:7.1f} s wall (side by side)")
    failed = any(r["exit"] != 0 for r in results.values())
    for name, result in results.items():
        if result["exit"] != 0:
            print(f"  {name} failed: see {work / f'{name}.log'}", file=sys.stderr)
    total_wall = sum(walls.values())
    total_cpu = sum(float(r["cpu_s"]) for r in results.values())
    print(f"{'total':<14} {total_wall:7.1f} s wall  {total_cpu:7.1f} s CPU")
    print(f"load after {_load()} on {os.cpu_count()} CPUs", file=sys.stderr)
    schedule = "serial" if args.serial else "side by side"
    print(
        json.dumps(
            {
                "phases": results,
                "checks_wall_s": round(walls.get("checks", 0.0), 1),
                "schedule": schedule,
                "total_wall_s": round(total_wall, 1),
                "workers": args.workers,
            }
        )
    )
    if not args.keep and not failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
