"""SIGTERM through the ddp image's real entry chain: signal to checkpoint on disk, steps lost.

The chain (dtrain/local/entry_chain.py): fresh PID/UTS/mount/network namespaces; PID 1 tini -g;
training_code/container/entrypoint.sh; the SageMaker training toolkit's `train` (.venv-toolkit)
handing over to the PyTorch toolkit; torchrun (--distribution none: no launcher); --ranks ranks of
train_ddp.py (CPU, tiny CIFAR-10
sample, checkpoint only at SIGTERM). Once the ranks have logged --warm-steps steps, SIGTERM goes to
the namespace's PID 1, as StopTrainingJob sends it. Per trial:

- signal -> checkpoint: from os.kill to the step-N.ckpt file appearing (polled every 5 ms);
- steps lost: the newest step the ranks had logged when the signal was sent minus the checkpoint's
  step (0: nothing lost; the ranks stop at the next step boundary, so it can only be 0);
- the chain's exit code (tini's, i.e. the toolkit's).

    .venv/bin/python benchmarks/sigterm_entry_chain.py [--trials 3] [--ranks 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dtrain.commands.data_cmd import make_cifar10_sample  # noqa: E402
from dtrain.local.entry_chain import (  # noqa: E402
    namespace_init_pid,
    prepare_host_tree,
    small_job,
    start_chain,
    toolkit_venv,
)

STEP = re.compile(r"\bstep=(\d+)")


def trial(
    workdir: Path, data: Path, ranks: int, warm_steps: int, distribution: str
) -> dict[str, float | int]:
    spec = small_job("ddp", None if distribution == "none" else distribution)
    base = prepare_host_tree(workdir, spec, ranks=ranks if distribution != "none" else 1, data=data)
    log_path = workdir / "chain.log"
    with open(log_path, "w") as log:
        chain = start_chain("ddp", base, toolkit_bin=toolkit_venv() / "bin", output=log)
        while len(STEP.findall(log_path.read_text())) < warm_steps:
            if chain.poll() is not None:
                raise SystemExit(f"chain ended early:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.02)
        reached = max(int(s) for s in STEP.findall(log_path.read_text()))
        sent = time.monotonic()
        os.kill(namespace_init_pid(chain), signal.SIGTERM)
        checkpoints = base / "checkpoints"
        while not list(checkpoints.glob("step-*.ckpt")):
            time.sleep(0.005)
        on_disk = time.monotonic()
        code = chain.wait(timeout=180)
        exited = time.monotonic()
    step = int(sorted(checkpoints.glob("step-*.ckpt"))[-1].name[5:14])
    return {
        "signal_to_checkpoint_s": round(on_disk - sent, 3),
        "signal_to_exit_s": round(exited - sent, 3),
        "steps_lost": max(0, reached - step),
        "checkpoint_step": step,
        "exit_code": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--warm-steps", type=int, default=5)
    parser.add_argument("--distribution", choices=["torch_distributed", "none"], default="torch_distributed")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_cifar10_sample(data, train=256, test=64)
        for index in range(args.trials):
            results.append(
                trial(Path(tmp) / f"t{index}", data, args.ranks, args.warm_steps, args.distribution)
            )
            print(json.dumps(results[-1]))
    latencies = [float(r["signal_to_checkpoint_s"]) for r in results]
    print(
        json.dumps(
            {
                "distribution": args.distribution,
                "trials": len(results),
                "signal_to_checkpoint_median_s": statistics.median(latencies),
                "signal_to_checkpoint_max_s": max(latencies),
                "steps_lost_max": max(int(r["steps_lost"]) for r in results),
                "exit_codes": sorted({int(r["exit_code"]) for r in results}),
                "load": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    main()
