"""Samples/s and final accuracy of the TF and Horovod-PyTorch strategies: 2 hosts vs 1 (CPU).

    .venv/bin/python benchmarks/distributed_strategies.py [--epochs 4] [--train 1024] [--test 256]

Makes a sample data set (python batches + TFRecords, not timed), then runs through `dtrain local`,
the way a user does, each of examples/tf_multi_worker_mirrored.json, tf_parameter_server.json and
horovod_torch.json with --hosts 2 and --hosts 1 (the single-host run of the same trainer: TF's
single-host fallback, Horovod of size 1), with the same hyperparameters (batch_size per worker for
the TF trainer, global for the Horovod one). Reports the last epoch's samples/s (the trainer's own
metric line), the final validation accuracy and the wall time. Simulated hosts share this
machine's cores, so 2 hosts show the cost of the protocol, not a speed-up; the figure is for this
machine and its load now (printed with `uptime`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"
METRIC = re.compile(r"epoch=(\d+) step=(\d+) train_loss=([0-9.]+) val_acc=([0-9.]+) samples_per_sec=(\d+)")
CASES = {
    "MultiWorkerMirrored": ("tf_multi_worker_mirrored.json", "tfrecords"),
    "ParameterServer": ("tf_parameter_server.json", "tfrecords"),
    "Horovod-PyTorch": ("horovod_torch.json", "batches"),
}


def make_data(root: Path, train: int, test: int) -> dict[str, Path]:
    batches, tfrecords = root / "batches", root / "tfrecords"
    subprocess.run(
        [sys.executable, "-m", "dtrain", "data", "cifar10-sample", str(batches), "--train", str(train),
         "--test", str(test)],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    prepare = REPO / "training_code" / "data" / "prepare_cifar10.py"
    subprocess.run([str(HVD_PYTHON), str(prepare), "tfrecord", str(batches), str(tfrecords)], check=True)
    return {"batches": batches, "tfrecords": tfrecords}


def one_run(example: str, data: Path, hosts: int, epochs: int, workdir: Path) -> dict[str, float]:
    command = [
        sys.executable, "-m", "dtrain", "local", str(REPO / "examples" / example),
        "--hosts", str(hosts), "--workdir", str(workdir), "--no-live",
        "--data", f"train={data}", "--data", f"test={data}",
        "--set", f"epochs={epochs}", "--set", "batch_size=32", "--set", "width=8",
        "--set", "lr=0.05", "--set", "checkpoint_every_steps=0", "--set", "max_steps=100000",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=REPO, env=dict(os.environ, COLUMNS="200"), capture_output=True, text=True
    )
    wall = time.monotonic() - started
    logs = "".join(p.read_text() for p in sorted((workdir / "jobs").glob("*/logs/algo-1.log")))
    found = METRIC.findall(logs)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{example} --hosts {hosts} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    _, _, _, val_acc, rate = found[-1]
    return {"samples_per_sec": float(rate), "val_acc": float(val_acc), "wall_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train", type=int, default=1024)
    parser.add_argument("--test", type=int, default=256)
    args = parser.parse_args()
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="dtrain-strategies-") as scratch:
        root = Path(scratch)
        data = make_data(root, args.train, args.test)
        print(f"{'strategy':<20} {'hosts':>5} {'samples/s':>10} {'val_acc':>8} {'wall s':>7}")
        for name, (example, kind) in CASES.items():
            for hosts in (2, 1):
                result = one_run(example, data[kind], hosts, args.epochs, root / f"{example}-{hosts}")
                print(
                    f"{name:<20} {hosts:>5} {result['samples_per_sec']:>10.0f} {result['val_acc']:>8.4f}"
                    f" {result['wall_s']:>7.1f}",
                    flush=True,
                )
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
