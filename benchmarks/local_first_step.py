"""Time from `dtrain local` start to the first training step (goal: <= 5 s, data excluded).

    .venv/bin/python benchmarks/local_first_step.py [--runs 3] [--hosts 2] [--breakdown]

Makes a small sample data set first (not timed), then runs
`dtrain local examples/ddp_torchrun.json` as a subprocess, the way a user does, with
log_every_steps=1 so the trainer prints its first step, and timestamps every output line.
Reports per run: first trainer line (processes up, torch imported), first step line, and the
whole run; then the median. The machine's load matters: the figure is for this machine now.

``--breakdown`` adds where the time goes, as CPU seconds (user + system, median of the runs) of
each part started on its own, which other processes on the machine do not inflate as they do
wall time: the interpreter, ``import torch``, torchrun's own import, the trainer's imports, the
``torch._dynamo`` import that the first ``torch.optim`` call makes, one whole single-process
trainer run to its first step, and the whole ``dtrain local`` run (every process) for 1 and 2
hosts. On an idle machine the one-host chain runs on one core, so its CPU seconds are its wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
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


def cpu_seconds(command: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None) -> float:
    """User + system CPU seconds of ``command`` and every process it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def breakdown(data: Path, workdir: Path, runs: int) -> list[tuple[str, float]]:
    code = REPO / "training_code"
    python = sys.executable
    single_env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    hps = '{"epochs": 1, "max_steps": 1, "width": 8, "batch_size": 32, "checkpoint_every_steps": 0}'
    single_env.update(
        {
            "PYTHONPATH": str(code),
            "SAGEMAKER_BASE_DIR": str(workdir / "single"),
            "SM_CHANNEL_TRAIN": str(data),
            "SM_CHANNEL_TEST": str(data),
            "SM_NUM_GPUS": "0",
            "SM_HPS": hps,
            "OMP_NUM_THREADS": "1",
        }
    )
    parts: list[tuple[str, list[str], dict[str, str] | None]] = [
        ("interpreter start (python -c pass)", [python, "-c", "pass"], None),
        ("import torch", [python, "-c", "import torch"], None),
        ("torchrun's import (torch.distributed.run)", [python, "-c", "import torch.distributed.run"], None),
        (
            "trainer's imports (train_ddp.py, torch included)",
            [
                python,
                "-c",
                f"import sys; sys.path[:0] = [{str(code)!r}, {str(code / 'ddp')!r}]; import train_ddp",
            ],
            None,
        ),
        (
            "import torch + torch._dynamo (first torch.optim call)",
            [python, "-c", "import torch._dynamo"],
            None,
        ),
        (
            "train_ddp.py alone, 1 process, 1 step, to exit",
            [python, str(code / "ddp" / "train_ddp.py")],
            single_env,
        ),
    ]
    spec = str(REPO / "examples" / "ddp_torchrun.json")
    for hosts in (1, 2):
        command = [
            python, "-m", "dtrain", "local", spec, "--hosts", str(hosts),
            "--workdir", str(workdir / f"h{hosts}"), "--no-live",
            "--data", f"train={data}", "--data", f"test={data}",
            "--set", "epochs=1", "--set", "max_steps=1", "--set", "width=8", "--set", "batch_size=32",
        ]  # fmt: skip
        parts.append((f"dtrain local --hosts {hosts}, every process, 1 step, to exit", command, None))
    return [
        (name, statistics.median(cpu_seconds(command, env=env) for _ in range(runs)))
        for name, command, env in parts
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--breakdown", action="store_true", help="CPU seconds of each part")
    args = parser.parse_args()
    from dtrain.commands.data_cmd import make_cifar10_sample

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_cifar10_sample(data, train=512, test=128)  # not timed
        results = [one_run(data, Path(tmp) / f"work{i}", args.hosts) for i in range(args.runs)]
        overhead = dtrain_overhead(data, Path(tmp) / "overhead", args.hosts)
        parts = breakdown(data, Path(tmp) / "breakdown", args.runs) if args.breakdown else []
    print(f"dtrain local examples/ddp_torchrun.json --hosts {args.hosts} on {os.cpu_count()} CPUs")
    print(f"{'run':>4} {'first trainer line':>19} {'first step':>11} {'total':>8}")
    for index, marks in enumerate(results, 1):
        first, step, total = marks["first_output"], marks["first_step"], marks["total"]
        print(f"{index:>4} {first:>18.2f}s {step:>10.2f}s {total:>7.2f}s")
    print(f"dtrain's own part (spec, request, host trees, launch; in process): {overhead:.2f}s")
    median = statistics.median(m["first_step"] for m in results)
    print(f"median time to first step: {median:.2f}s (goal <= 5 s); load average {os.getloadavg()[0]:.1f}")
    if parts:
        print(f"CPU seconds (user + system), median of {args.runs}:")
        for name, seconds in parts:
            print(f"  {seconds:6.2f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
