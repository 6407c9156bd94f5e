"""Wall time of each phase of `make demo` and the demo execution's history, from the emulator.

    .venv/bin/python benchmarks/demo_phases.py [--runs N]

Each run is the whole demo (dtrain.demo.emulated.run_emulated_demo) in a fresh work directory:
synth of app.py, deploy of the 4 stacks into the emulator, sample data, `dtrain submit --wait`
of examples/ddp_torchrun.json on 2 simulated hosts (CPU). The submit is split with the
emulator's own records: submit -> the trainer's start line in the job's CloudWatch stream
(rank 0, process group up; the example logs metrics once per epoch, so step 1 has no line of
its own), -> TrainingEndTime, -> the execution's stopDate. State transitions and history
events come from GetExecutionHistory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dtrain.demo.emulated import quiet_emulator_logs, run_emulated_demo

# The phases in the order the demo records them (DemoReport.phases); a run that lacks one prints nan.
PHASES = (
    "synth",
    "emulated deploy",
    "sample data",
    "submit to first training step",
    "training",
    "deploy (to InService)",
    "callback to SUCCEEDED",
    "submit --wait",
    "invoke endpoint",
    "tear down",
)


def _one_run() -> int:
    """One demo in this (fresh) process; the last stdout line is its figures as JSON."""
    quiet_emulator_logs()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_emulated_demo(workdir=Path(tmp))
    figures = {
        "phases": report.phases,
        "whole": time.perf_counter() - started,
        "load": load,
        "status": report.status,
        "cause": report.cause,
        "transitions": report.state_transitions,
        "history_events": report.history_events,
    }
    print("\n" + json.dumps(figures))
    return 0 if report.status == "SUCCEEDED" else 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="the runs' figures as one JSON line at the end")
    args = parser.parse_args()
    if args.one:
        return _one_run()
    # Each run in a fresh interpreter, like `make demo` (a second run in one process would
    # reuse the warm jsii runtime and imports: synth 1.4 s instead of ~12 s).
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--one"], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if out.returncode != 0:
            print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
            return 1
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        figures["process"] = wall
        runs.append(figures)
        print(f"run {i + 1}: {wall:.1f} s", file=sys.stderr)
    print("phase                            " + "".join(f"  run {i + 1:>2}" for i in range(len(runs))))
    for phase in PHASES + tuple(p for p in runs[0]["phases"] if p not in PHASES):
        values = [r["phases"].get(phase, float("nan")) for r in runs]
        print(f"{phase:<32} " + "".join(f"{v:8.1f}" for v in values) + "  s")
    for label, key in (("whole demo (in process)", "whole"), ("process incl. interpreter", "process")):
        print(f"{label:<32} " + "".join(f"{r[key]:8.1f}" for r in runs) + "  s")
    print(f"{'load average at start':<32} " + "".join(f"{r['load']:8.1f}" for r in runs))
    print(f"\nmedian process wall time: {statistics.median(r['process'] for r in runs):.1f} s")
    for r in runs:
        print(
            f"demo execution: {r['status']}, {r['transitions']} state transitions, "
            f"{r['history_events']} history events"
        )
    if args.json:
        print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
