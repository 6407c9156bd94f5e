"""Where `make test`'s time goes: set-up, lint, the main suite, the Lambda-runtime suite.

Runs the Makefile's own targets in order, as `make test` does (`make -j4 setup`, then `make lint`,
`make pytest-main`, `make pytest-lambda`), in a fresh `git clone` of this checkout's HEAD (the
default: what CI sees, with whatever package caches the machine has warm) or in this checkout
(--here). For each phase it prints the wall time and the CPU time (user + sys of every process
the phase waited for), then the totals, the load average before and after, and one JSON line.
On a shared machine wall times inflate with the load while CPU times move much less: compare
runs made at the same load.

Run: .venv/bin/python benchmarks/suite_time.py [--here | --checkout DIR] [--workers N] [--phases suite,...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# phase -> the make invocation (make test: `$(MAKE) -j4 setup`, then `$(MAKE) lint pytest`).
PHASES: dict[str, list[str]] = {
    "setup": ["-j4", "setup"],
    "lint": ["lint"],
    "suite": ["pytest-main"],
    "lambda-suite": ["pytest-lambda"],
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_phase(
    checkout: Path, make_args: list[str], workers: str | None, log: Path
) -> tuple[float, float, int]:
    """(wall s, CPU s, exit code) of `make <make_args>` in `checkout`, its output in `log`."""
    cmd = ["make", "--no-print-directory", *make_args]
    if workers is not None:
        cmd.append(f"PYTEST_WORKERS={workers}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(cmd, cwd=checkout, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    return time.perf_counter() - wall0, _children_cpu() - cpu0, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--here", action="store_true", help="time this checkout instead of a fresh clone")
    parser.add_argument(
        "--checkout", type=Path, help="time this existing checkout (e.g. a clone made before)"
    )
    parser.add_argument(
        "--workers", default=None, help="PYTEST_WORKERS for the main suite (Makefile default)"
    )
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument("--keep", action="store_true", help="keep the clone and the logs")
    args = parser.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"--phases: unknown {', '.join(unknown)} (known: {', '.join(PHASES)})")

    work = Path(tempfile.mkdtemp(prefix="dtrain-suite-time-"))
    checkout = args.checkout or ROOT
    if not args.here and args.checkout is None:
        checkout = work / "dtrain"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True)
    print(f"checkout {checkout} (logs in {work}); load before {_load()}", file=sys.stderr)

    results: dict[str, dict[str, float | int]] = {}
    failed = False
    for phase in phases:
        wall, cpu, code = run_phase(checkout, PHASES[phase], args.workers, work / f"{phase}.log")
        results[phase] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "exit": code}
        print(f"{phase:<13} {wall:7.1f} s wall  {cpu:7.1f} s CPU  exit {code}", flush=True)
        if code != 0:
            failed = True
            print(f"  failed: see {work / f'{phase}.log'}", file=sys.stderr)
            break
    total_wall = sum(float(r["wall_s"]) for r in results.values())
    total_cpu = sum(float(r["cpu_s"]) for r in results.values())
    print(f"{'total':<13} {total_wall:7.1f} s wall  {total_cpu:7.1f} s CPU")
    print(f"load after {_load()} on {os.cpu_count()} CPUs", file=sys.stderr)
    print(json.dumps({"phases": results, "total_wall_s": round(total_wall, 1), "workers": args.workers}))
    if not args.keep and not failed:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
