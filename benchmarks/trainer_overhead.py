"""Trainer overhead on CPU: samples/s of train_ddp.py (one process) against a bare PyTorch loop.

Both sides train the same CifarNet with the same global batch, optimizer, augmentation and data
(synthetic CIFAR-10 in the real python-batch format), in separate processes with the same thread
count. The trainer adds what a production run needs (SageMaker contract, LR schedule, stop-signal
check, metric lines, checkpoints if asked); the goal is a ratio >= 0.95. Runs alternate
(trainer, bare, trainer, ...) so load from other processes on the machine hits both alike; the
first epoch of each run is warm-up and is left out.

    .venv/bin/python benchmarks/trainer_overhead.py [--width 16] [--batch 256] [--epochs 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINING_CODE = REPO / "training_code"
RATE = re.compile(r"samples_per_sec=(\d+)")

BARE_LOOP = r"""
import sys, time, json, torch
import torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from common.cifar_format import load_split
from common.cifar_model import CifarNet, ModelConfig
from common.device_data import Augmentation
from pathlib import Path

width, batch, epochs, data_dir = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
torch.manual_seed(0)
split = load_split(data_dir, "train")
images, labels = torch.from_numpy(split.images), torch.from_numpy(split.labels)
config = ModelConfig(width=width)
mean = torch.tensor(config.mean).view(1, 3, 1, 1) * 255
std = torch.tensor(config.std).view(1, 3, 1, 1) * 255
model = CifarNet(config)
optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4)
steps = len(images) // batch
rates = []
generator = torch.Generator()  # the images are on the CPU here
for epoch in range(epochs):
    order = torch.randperm(len(images))
    started = time.perf_counter()
    for step in range(steps):
        index = order[step * batch:(step + 1) * batch]
        augment = Augmentation.draw(seed=0, step=epoch * steps + step, global_batch=batch, rank=0,
                                    world_size=1, generator=generator)
        x = (augment.apply(images[index]).float() - mean) / std
        loss = F.cross_entropy(model(x), labels[index], label_smoothing=0.2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    loss.item()
    rates.append(steps * batch / (time.perf_counter() - started))
print(json.dumps(rates))
"""


def prepare(workdir: Path, samples: int) -> tuple[Path, Path]:
    data = workdir / "data"
    subprocess.run(
        [
            sys.executable,
            str(TRAINING_CODE / "data" / "prepare_cifar10.py"),
            "synth",
            str(data),
            "--train",
            str(samples),
            "--test",
            "0",
        ],
        check=True,
        capture_output=True,
    )
    code = workdir / "code"
    shutil.copytree(TRAINING_CODE / "ddp", code, ignore=shutil.ignore_patterns("Dockerfile", "__pycache__"))
    shutil.copytree(TRAINING_CODE / "common", code / "common", ignore=shutil.ignore_patterns("__pycache__"))
    return data, code


def trainer_rates(
    code: Path, data: Path, base: Path, args: argparse.Namespace, env: dict[str, str]
) -> list[float]:
    shutil.rmtree(base, ignore_errors=True)
    hps = {
        "epochs": args.epochs,
        "batch_size": args.batch,
        "width": args.width,
        "lr": 0.2,
        "warmup_fraction": 0.0,
    }
    run_env = {
        **env,
        "SAGEMAKER_BASE_DIR": str(base),
        "SM_CHANNEL_TRAIN": str(data),
        "SM_HPS": json.dumps(hps),
    }
    out = subprocess.run(
        [sys.executable, str(code / "train_ddp.py")], env=run_env, capture_output=True, text=True, check=True
    ).stdout
    return [float(r) for r in RATE.findall(out)]


def bare_rates(code: Path, data: Path, args: argparse.Namespace, env: dict[str, str]) -> list[float]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            BARE_LOOP,
            str(code),
            str(args.width),
            str(args.batch),
            str(args.epochs),
            str(data),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def cpu_seconds(run: Callable[[], object]) -> float:
    """CPU seconds (user + system) that the child processes started by ``run`` consumed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_rate(run_epochs: Callable[[int], object], epochs: int, samples_per_epoch: int) -> float:
    """Samples per CPU-second of the training epochs alone: a run of ``epochs`` minus a run of one
    epoch cancels start-up, data loading and the first (warm-up) epoch. CPU time, unlike wall time,
    does not grow when other processes share the cores."""
    short = cpu_seconds(lambda: run_epochs(1))
    long = cpu_seconds(lambda: run_epochs(epochs))
    return (epochs - 1) * samples_per_epoch / max(1e-9, long - short)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    # One thread: OpenMP workers spin while waiting, which would count as CPU time.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env.update({"OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"})
    with tempfile.TemporaryDirectory(prefix="dtrain-overhead-") as tmp:
        data, code = prepare(Path(tmp), args.samples)
        trainer: list[float] = []
        bare: list[float] = []
        trainer_cpu: list[float] = []
        bare_cpu: list[float] = []
        samples_per_epoch = args.samples // args.batch * args.batch
        ml = Path(tmp) / "ml"

        def with_epochs(n: int) -> argparse.Namespace:
            return argparse.Namespace(**{**vars(args), "epochs": n})

        for repeat in range(args.repeats):
            started = time.perf_counter()
            trainer += trainer_rates(code, data, ml, args, env)[1:]
            bare += bare_rates(code, data, args, env)[1:]
            trainer_cpu.append(
                cpu_rate(
                    lambda n: trainer_rates(code, data, ml, with_epochs(n), env),
                    args.epochs,
                    samples_per_epoch,
                )
            )
            bare_cpu.append(
                cpu_rate(
                    lambda n: bare_rates(code, data, with_epochs(n), env), args.epochs, samples_per_epoch
                )
            )
            print(
                f"repeat {repeat + 1}/{args.repeats} done in {time.perf_counter() - started:.0f}s",
                file=sys.stderr,
            )
    t, b = statistics.median(trainer), statistics.median(bare)
    # Other processes on a shared machine only ever slow an epoch down: the best epoch of each side
    # is the least disturbed measurement, the median the typical one.
    t_best, b_best = max(trainer), max(bare)
    print(
        f"config: width={args.width} global_batch={args.batch} samples={args.samples} threads={args.threads}"
        f" epochs={args.epochs} (first left out) repeats={args.repeats}"
    )
    print(f"train_ddp.py  samples/s median {t:8.0f}  (epochs: {', '.join(f'{r:.0f}' for r in trainer)})")
    print(f"bare loop     samples/s median {b:8.0f}  (epochs: {', '.join(f'{r:.0f}' for r in bare)})")
    print(f"wall clock: ratio trainer/bare = {t_best / b_best:.3f} best epochs, {t / b:.3f} medians")
    tc, bc = statistics.median(trainer_cpu), statistics.median(bare_cpu)
    print(
        f"CPU time: train_ddp.py {tc:.0f} samples/CPU-s ({', '.join(f'{r:.0f}' for r in trainer_cpu)}),"
        f" bare loop {bc:.0f} ({', '.join(f'{r:.0f}' for r in bare_cpu)})"
    )
    print(f"ratio trainer/bare (CPU time, medians) = {tc / bc:.3f} (goal >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
