"""Where the main suite's CPU goes: per test, per file and per folder, and the floor it sets.

`make test` runs on 2 cores. A suite whose tests wait (on training processes, servers, the toolkit's
fixed sleeps) gains from more pytest-xdist workers; a suite whose tests compute does not: its CPU
time divided by the cores is the least wall time any number of workers can reach. This script
measures that CPU time test by test, so the next cut goes where the CPU goes.

It runs the main suite as `make pytest-main` does (pytest-xdist, --dist loadgroup) with itself
loaded as a pytest plugin: around each test (set-up, call and tear-down) it reads the worker's
own CPU time and that of the child processes the worker has waited for (getrusage SELF and
CHILDREN), and writes one JSON line per test. Processes the worker never waits for (a session's
Node.js jsii kernel until the worker exits) fall to no test; the report shows how much that is
against the whole run's CPU (wait4 of pytest, which waits for its workers).

Run: .venv/bin/python benchmarks/suite_cpu.py [--workers 2] [--top 25] [-- PYTEST_ARGS...]
     .venv/bin/python benchmarks/suite_cpu.py --report DIR   (the tables of an earlier run)
On a loaded machine CPU times inflate less than wall times, but they do inflate: note the load.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT_ENV = "DTRAIN_SUITE_CPU_DIR"
_out: Any = None


def _cpu_now() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, waited.ru_utime + waited.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """One line per test: its wall time and the CPU of this process and its waited children."""
    global _out
    folder = os.environ.get(OUT_ENV)
    if folder and _out is None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        _out = (Path(folder) / f"{worker}.jsonl").open("a")
    started = time.time()
    own0, waited0 = _cpu_now()
    yield
    own1, waited1 = _cpu_now()
    if _out is not None:
        row = {
            "id": item.nodeid,
            "wall": time.time() - started,
            "own": own1 - own0,
            "children": waited1 - waited0,
        }
        _out.write(json.dumps(row) + "\n")
        _out.flush()


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.open()]


def report(folder: Path, top: int, whole_cpu: float | None, wall: float | None) -> None:
    rows = _rows(folder)
    cpu_of = {id(r): r["own"] + r["children"] for r in rows}
    per_test = sum(cpu_of.values())
    walls = sum(r["wall"] for r in rows)
    print(f"{len(rows)} tests; CPU counted per test {per_test:.0f} s, their wall times summed {walls:.0f} s")
    if whole_cpu is not None and wall is not None:
        cores = os.cpu_count() or 1
        print(
            f"whole run: {wall:.0f} s wall, {whole_cpu:.0f} s CPU "
            f"({whole_cpu - per_test:.0f} s outside any test: "
            f"collection, workers' start, processes no test waited for); floor on {cores} cores: "
            f"{whole_cpu / cores:.0f} s"
        )
    folders: dict[str, float] = collections.defaultdict(float)
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for r in rows:
        path = r["id"].split("::", 1)[0]
        folders[path.split("/")[1] if "/" in path else path] += cpu_of[id(r)]
        entry = files[path]
        entry[0] += r["wall"]
        entry[1] += cpu_of[id(r)]
        entry[2] += 1
    print(
        "\nCPU s by folder: "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(folders.items(), key=lambda x: -x[1]))
    )
    ranked = sorted(files.items(), key=lambda x: -x[1][1])
    together = sum(v[1] for _, v in ranked[:top])
    print(f"\nThe {top} files with the most CPU (of {len(ranked)}; together {together:.0f} s):")
    print(f"{'CPU s':>7} {'wall s':>7} {'tests':>5}  file")
    for path, (w, c, n) in ranked[:top]:
        print(f"{c:7.1f} {w:7.1f} {int(n):5d}  {path}")
    print(f"\nThe {top} tests with the most CPU:")
    for r in sorted(rows, key=lambda r: -cpu_of[id(r)])[:top]:
        print(f"{cpu_of[id(r)]:7.1f} {r['wall']:7.1f}  {r['id'].split('@', 1)[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="2", help="pytest-xdist workers (make test's PYTEST_WORKERS)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--report", type=Path, help="print the tables of an earlier run's folder")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    if args.report:
        report(args.report, args.top, None, None)
        return 0
    folder = Path(tempfile.mkdtemp(prefix="dtrain-suite-cpu-"))
    env = {**os.environ, OUT_ENV: str(folder), "PYTHONPATH": str(ROOT)}
    cmd = [
        str(ROOT / ".venv" / "bin" / "pytest"),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "benchmarks.suite_cpu",
    ]
    if args.workers != "0":
        cmd += ["-n", args.workers, "--dist", "loadgroup"]
    print(f"load before {' '.join(f'{x:.1f}' for x in os.getloadavg())}; rows in {folder}", file=sys.stderr)
    started = time.perf_counter()
    proc = subprocess.Popen([*cmd, *args.pytest_args], cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    print(f"load after {' '.join(f'{x:.1f}' for x in os.getloadavg())}", file=sys.stderr)
    report(folder, args.top, usage.ru_utime + usage.ru_stime, wall)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
