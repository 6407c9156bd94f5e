"""Time from `dtrain local` start to the first training step (goal: <= 5 s, data excluded).

    .venv/bin/python benchmarks/local_first_step.py [--runs 3] [--hosts 2]

Makes a small sample data set first (not timed), then runs
`dtrain local examples/ddp_torchrun.json` as a subprocess, the way a user does, with
log_every_steps=1 so the trainer prints its first step, and timestamps every output line.
Reports per run: first trainer line (processes up, torch imported), first step line, and the
whole run; then the median. The machine's load matters: the figure is for this machine now.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STEP = re.compile(r"\bstep=1\b")


def one_run(data: Path, workdir: Path, hosts: int) -> dict[str, float]:
    command = [
        sys.executable, "-m", "dtrain", "local", str(REPO / "examples" / "ddp_torchrun.json"),
        "--hosts", str(hosts), "--workdir", str(workdir), "--no-live",
        "--data", f"train={data}", "--data", f"test={data}",
        "--set", "epochs=1", "--set", "max_steps=2", "--set", "log_every_steps=1",
        "--set", "width=8", "--set", "batch_size=32",
    ]  # fmt: skip
    env = dict(os.environ, COLUMNS="200")
    start = time.monotonic()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    marks: dict[str, float] = {}
    assert process.stdout is not None
    for line in process.stdout:
        now = time.monotonic() - start
        if "train_ddp:" in line and "first_output" not in marks:
            marks["first_output"] = now
        if STEP.search(line) and "first_step" not in marks:
            marks["first_step"] = now
    process.wait()
    marks["total"] = time.monotonic() - start
    if process.returncode != 0 or "first_step" not in marks:
        raise SystemExit(f"run failed (exit {process.returncode}): {marks}")
    return marks


def dtrain_overhead(data: Path, workdir: Path, hosts: int) -> float:
    """Seconds of our own work, in process: spec -> request -> host trees -> processes launched."""
    from dtrain.cli import build_parser
    from dtrain.commands.local_cmd import prepare_job

    start = time.monotonic()
    spec = str(REPO / "examples" / "ddp_torchrun.json")
    argv = ["local", spec, "--hosts", str(hosts), "--workdir", str(workdir), "--set", "max_steps=1"]
    args = build_parser().parse_args([*argv, "--data", f"train={data}", "--data", f"test={data}"])
    job = prepare_job(args).start()
    while job.secondary_status in ("Starting", "Downloading"):
        time.sleep(0.005)
    launched = time.monotonic() - start
    job.stop()
    return launched


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=2)
    args = parser.parse_args()
    from dtrain.commands.data_cmd import make_cifar10_sample

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_cifar10_sample(data, train=512, test=128)  # not timed
        results = [one_run(data, Path(tmp) / f"work{i}", args.hosts) for i in range(args.runs)]
        overhead = dtrain_overhead(data, Path(tmp) / "overhead", args.hosts)
    print(f"dtrain local examples/ddp_torchrun.json --hosts {args.hosts} on {os.cpu_count()} CPUs")
    print(f"{'run':>4} {'first trainer line':>19} {'first step':>11} {'total':>8}")
    for index, marks in enumerate(results, 1):
        first, step, total = marks["first_output"], marks["first_step"], marks["total"]
        print(f"{index:>4} {first:>18.2f}s {step:>10.2f}s {total:>7.2f}s")
    print(f"dtrain's own part (spec, request, host trees, launch; in process): {overhead:.2f}s")
    median = statistics.median(m["first_step"] for m in results)
    print(f"median time to first step: {median:.2f}s (goal <= 5 s); load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
