"""Time to accuracy: train_ddp.py, as a job runs it, until the validation accuracy reaches a target.

Starts ``python train_ddp.py`` (one process, the device it finds: CUDA when present) on a CIFAR-10
channel, timestamps each output line as it arrives, and stops the job (SIGTERM, as SageMaker's
stop does: the trainer checkpoints and exits 0) at the first epoch whose val_acc reaches the
target. Reports the wall time from process start to that epoch's line (interpreter, imports, data
load, model, prewarm and the evaluations included), the time to the first step, the training time
(the epochs' step time, evaluations left out) and the samples/s over it.

Without ``--data`` it trains on synthetic CIFAR-10-shaped data made first (not timed), for which
the default target is what the sample reaches (``--target``, default 0.94, airbench's CIFAR-10
figure); with ``--data DIR`` (the python batches, ``cifar-10-batches-py``, or the npz pair) it
trains on that, e.g. the real CIFAR-10.

    .venv/bin/python benchmarks/time_to_accuracy.py [--data DIR] [--target 0.94] [--epochs 10]
        [--batch 1024] [--width 64] [--compile] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINING_CODE = REPO / "training_code"
sys.path.insert(0, str(TRAINING_CODE))

from common.cifar_format import make_synthetic, write_npz  # noqa: E402

METRIC = re.compile(r"^epoch=(\d+) step=(\d+) train_loss=\S+ val_acc=([0-9.]+) samples_per_sec=(\d+)")
FIRST_STEP = re.compile(r"^first step done")


def synthetic_channel(directory: Path, train: int, test: int) -> Path:
    write_npz(directory / "cifar10_train.npz", make_synthetic(train, seed=0, sample_seed=1))
    write_npz(directory / "cifar10_test.npz", make_synthetic(test, seed=0, sample_seed=2))
    return directory


def job_env(base: Path, data: Path, hyperparameters: dict[str, object]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    env.update(
        {
            "SAGEMAKER_BASE_DIR": str(base),
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_CURRENT_HOST": "algo-1",
            "SM_CHANNELS": json.dumps(["train"]),
            "SM_CHANNEL_TRAIN": str(data),
            "SM_HPS": json.dumps(hyperparameters),
            "SM_MODEL_DIR": str(base / "model"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="a CIFAR-10 directory (default: synthetic data)")
    parser.add_argument("--target", type=float, default=0.94)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--train", type=int, default=50_000, help="synthetic training samples")
    parser.add_argument("--test", type=int, default=10_000, help="synthetic test samples")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="CPU-sized: 4096/1024 samples, width 16")
    args = parser.parse_args()
    if args.quick:
        args.train, args.test, args.width, args.batch = 4096, 1024, 16, 256
    with tempfile.TemporaryDirectory(prefix="dtrain-tta-") as tmp:
        data = args.data or synthetic_channel(Path(tmp) / "data", args.train, args.test)
        hps = {"epochs": args.epochs, "batch_size": args.batch, "width": args.width, "compile": args.compile}
        code = TRAINING_CODE / "ddp" / "train_ddp.py"
        env = job_env(Path(tmp) / "ml", data, hps)
        env["PYTHONPATH"] = os.pathsep.join([str(TRAINING_CODE), env.get("PYTHONPATH", "")])
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(code)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        first_step = reached = None
        train_time = 0.0
        samples = 0
        for line in process.stdout:
            now = time.perf_counter() - started
            print(f"  [{now:7.2f}s] {line.rstrip()}", flush=True)
            if FIRST_STEP.match(line) and first_step is None:
                first_step = now
            match = METRIC.match(line)
            if match and reached is None:
                epoch_samples = (int(match.group(2)) * args.batch) - samples
                samples += epoch_samples
                train_time += epoch_samples / max(1, int(match.group(4)))
                if float(match.group(3)) >= args.target:
                    reached = (now, int(match.group(1)), float(match.group(3)))
                    process.send_signal(signal.SIGTERM)  # done: stop as SageMaker stops a job
        code_rc = process.wait()
    if code_rc != 0:
        print(f"train_ddp.py exited {code_rc}")
        return 1
    source = str(args.data) if args.data else f"synthetic {args.train}/{args.test}"
    print(
        f"data: {source}; batch {args.batch}, width {args.width}, compile={args.compile};"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    print(f"time to first step (process start -> first step done): {first_step:.2f}s")
    if reached is None:
        print(f"target val_acc {args.target} NOT reached in {args.epochs} epochs")
        return 1
    wall, epoch, accuracy = reached
    print(
        f"time to accuracy: val_acc {accuracy:.4f} >= {args.target} at epoch {epoch}:"
        f" {wall:.2f}s from process start; training time {train_time:.2f}s"
        f" ({samples} samples, {samples / train_time:.0f} samples/s, evaluations left out)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
