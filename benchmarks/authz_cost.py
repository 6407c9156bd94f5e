"""Cost of IAM enforcement in the emulator, and the calls it authorizes per run.

    .venv/bin/python benchmarks/authz_cost.py [--runs N] [--demo]

Chain: the stand-in platform deployed once per mode, then N executions of the orchestration
chain (StartExecution -> Submit -> CreateTrainingJob -> the job's completion event ->
JobEvents -> Finalize -> Notify) with enforcement on and off, alternating; the wall time per
execution, the checks authorized per execution (by action) and the engine's decisions (cache
misses). --demo also times `python -m dtrain.demo` (the whole `make demo`) once with
DTRAIN_EMULATOR_ENFORCE=1 and once with 0, each in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dtrain.emulator import Emulator  # noqa: E402
from dtrain.emulator.apps import STANDIN_DATA_BUCKET, synth_standin_app  # noqa: E402

SPEC: dict[str, Any] = {
    "framework": "pytorch",
    "estimator": {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.m5.xlarge",
        "instance_count": 1,
        "max_run": 3600,
    },
    "inputs": {"train": f"s3://{STANDIN_DATA_BUCKET}/cifar10/train"},
}


def _worker_cpu(emu: Emulator) -> float:
    """CPU seconds the engine's Node worker has used (Linux /proc), 0 without enforcement."""
    proc = emu.authz.engine._proc if emu.authz else None
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chain(assembly: Path, *, enforce: bool, runs: int) -> tuple[list[float], Counter[str], int, float, float]:
    """Wall seconds per execution, checks by action, engine calls, deploy seconds, and CPU
    seconds per execution (this process's threads + the engine worker): the CPU figure is what
    enforcement adds whatever else the machine runs; wall times on a shared machine are not."""
    with Emulator(assembly, announce=False, enforce=enforce) as emu:
        walls: list[float] = []
        cpu_start, worker_start = time.process_time(), _worker_cpu(emu)
        for _ in range(runs):
            start = time.perf_counter()
            arn = emu.start_execution(SPEC)
            (job,) = emu.jobs_of(arn)
            emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
            status = emu.wait_execution(arn)["status"]
            walls.append(time.perf_counter() - start)
            if status != "SUCCEEDED":
                raise SystemExit(f"execution {status} (enforce={enforce})")
        cpu = time.process_time() - cpu_start + _worker_cpu(emu) - worker_start
        counted: Counter[str] = Counter(emu.authz.authorized) if emu.authz else Counter()
        decisions = emu.authz.engine_calls if emu.authz else 0
        return walls, counted, decisions, emu.deploy_seconds, cpu / runs


def demo(enforce: bool) -> float:
    env = {**os.environ, "DTRAIN_EMULATOR_ENFORCE": "1" if enforce else "0", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dtrain.demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args()
    assembly = synth_standin_app(Path(tempfile.mkdtemp(prefix="authz-cost-")) / "cdk.out")
    chain(assembly, enforce=True, runs=2)  # warm-up: first-use imports and parsing, not counted
    off, _, _, deploy_off, cpu_off = chain(assembly, enforce=False, runs=args.runs)
    on, counted, decisions, deploy_on, cpu_on = chain(assembly, enforce=True, runs=args.runs)
    med_off, med_on = statistics.median(off), statistics.median(on)
    print(
        f"chain, {args.runs} executions each (median s/execution): off {med_off:.2f}, on {med_on:.2f} "
        f"({100 * (med_on - med_off) / med_off:+.1f} %)"
    )
    print(
        f"CPU per execution (process + engine worker): off {cpu_off:.3f} s, on {cpu_on:.3f} s "
        f"({100 * (cpu_on - cpu_off) / cpu_off:+.1f} %)"
    )
    print(
        f"deploy (stand-in): off {deploy_off:.1f} s, on {deploy_on:.1f} s (on: with the post-deploy checks)"
    )
    total = sum(counted.values())
    print(
        f"checks authorized: {total} ({total / args.runs:.1f} per execution, post-deploy checks included); "
        f"engine decisions (cache misses): {decisions}"
    )
    for action, n in sorted(counted.items()):
        print(f"  {action:32s} {n}")
    if args.demo:
        d_on, d_off = demo(True), demo(False)
        print(
            f"make demo (python -m dtrain.demo): off {d_off:.1f} s, on {d_on:.1f} s "
            f"({100 * (d_on - d_off) / d_off:+.1f} %)"
        )


if __name__ == "__main__":
    main()
