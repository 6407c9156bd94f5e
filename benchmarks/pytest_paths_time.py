"""Wall and CPU time of pytest runs of some test paths, compared between checkouts at one load.

Each --case is a label, a checkout and the pytest runs it stands for, one process each, one after
another ("|" between them): e.g. two test files run alone before they were merged, against the
merged folder run once. A round runs every case once, each with a synth cache of its own
(DTRAIN_SYNTH_CACHE): empty (--cache cold, a fresh clone's), or filled by an untimed run first
(--cache warm). Rounds alternate the cases' order (A B, then B A), so that on a shared machine
both see the same load on average. Per run: wall s, CPU s (user + sys of pytest and every process
it waited for, from wait4), exit code; per case and round: the totals and the load average
before and after. Ends with one JSON line.

Run: .venv/bin/python benchmarks/pytest_paths_time.py --rounds 2 --cache cold \\
       --case "before=/tmp/old-checkout:tests/e2e/test_teams.py|tests/e2e/test_team_guardrails_e2e.py" \\
       --case "after=.:tests/e2e/teams"
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_pytest(checkout: Path, paths: list[str], cache: Path, log: Path) -> dict[str, Any]:
    """One pytest process in `checkout` (its own .venv, its tree first on the path); its output
    goes to `log` (kept when it failed)."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "DTRAIN_SYNTH_CACHE": str(cache)}
    cmd = [str(checkout / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", "-rfE", *paths]
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:]
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "exit": proc.returncode,
        "summary": tail[0] if tail else "",  # pytest's last line: "63 passed in 61.9s"
        "log": str(log),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", required=True, help="LABEL=CHECKOUT:PATHS|PATHS...")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", choices=("cold", "warm"), default="cold")
    args = parser.parse_args()
    cases: list[tuple[str, Path, list[list[str]]]] = []
    for spec in args.case:
        label, rest = spec.split("=", 1)
        checkout, runs = rest.split(":", 1)
        cases.append((label, Path(checkout).resolve(), [run.split() for run in runs.split("|")]))
    results: list[dict[str, Any]] = []
    logs = Path(tempfile.mkdtemp(prefix="dtrain-paths-time-logs-"))
    with tempfile.TemporaryDirectory(prefix="dtrain-paths-time-") as tmp:
        for n in range(args.rounds):
            for label, checkout, runs in cases if n % 2 == 0 else list(reversed(cases)):
                cache = Path(tempfile.mkdtemp(dir=tmp, prefix=f"{label}-"))
                if args.cache == "warm":
                    for i, paths in enumerate(runs):
                        run_pytest(checkout, paths, cache, logs / f"{label}-{n + 1}-{i}-warming.log")
                before = _load()
                timed = [
                    run_pytest(checkout, paths, cache, logs / f"{label}-{n + 1}-{i}.log")
                    for i, paths in enumerate(runs)
                ]
                row = {
                    "round": n + 1,
                    "case": label,
                    "cache": args.cache,
                    "runs": timed,
                    "wall_s": round(sum(r["wall_s"] for r in timed), 1),
                    "cpu_s": round(sum(r["cpu_s"] for r in timed), 1),
                    "load_before": before,
                    "load_after": _load(),
                }
                results.append(row)
                exits = ",".join(str(r["exit"]) for r in timed)
                print(
                    f"round {n + 1} {label:<8} {row['wall_s']:7.1f} s wall {row['cpu_s']:7.1f} s CPU"
                    f"  exit {exits}  load {before} -> {row['load_after']}  "
                    + " / ".join(str(r["summary"]) for r in timed),
                    flush=True,
                )
    for label, _, _ in cases:
        rows = [r for r in results if r["case"] == label]
        wall = sum(r["wall_s"] for r in rows) / len(rows)
        cpu = sum(r["cpu_s"] for r in rows) / len(rows)
        print(f"mean {label:<8} {wall:7.1f} s wall {cpu:7.1f} s CPU, {len(rows)} rounds")
    print(json.dumps(results))
    failed = [run["log"] for r in results for run in r["runs"] if run["exit"] != 0]
    for path in failed:
        print(f"failed: {path}", file=sys.stderr)
    if not failed:
        shutil.rmtree(logs, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
