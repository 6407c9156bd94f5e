"""Checkpoint cost and work lost on a kill, for the bundled DDP trainer.

1. Save and load time of a full training checkpoint (model, SGD momentum, LR schedule, RNG states)
   of the bundled CifarNet at its default width (64, airbench's sizes), through the same code the
   trainer uses (atomic temp file + fsync + rename; read + apply), median of --repeats.
2. Work lost on a kill: train_ddp.py (one process, tiny data) is interrupted at a random moment
   after its first checkpoint, --trials times each way:
   - SIGTERM (spot interruption, StopTrainingJob): it checkpoints the step it stopped at, so the
     steps lost are (stop step - newest checkpoint) = 0; also reports the signal-to-exit latency.
   - SIGKILL (no notice): the steps done since the newest periodic checkpoint are lost; bounded by
     checkpoint_every_steps - 1.

    .venv/bin/python benchmarks/checkpoint_time.py [--repeats 5] [--trials 3] [--every 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINING_CODE = REPO / "training_code"
sys.path.insert(0, str(TRAINING_CODE))

import torch  # noqa: E402
from common.checkpoints import CheckpointStore  # noqa: E402
from common.cifar_model import CifarNet, ModelConfig  # noqa: E402
from common.torch_checkpoint import apply_training_state, read_newest_state, save_training_state  # noqa: E402


def save_load_times(directory: Path, repeats: int, width: int) -> dict[str, float]:
    model = CifarNet(ModelConfig(width=width))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    torch.nn.functional.cross_entropy(model(torch.randn(8, 3, 32, 32)), torch.randint(0, 10, (8,))).backward()
    optimizer.step()  # momentum buffers exist, as in any checkpoint after step 1
    store = CheckpointStore(directory, keep=2)
    saves, loads = [], []
    for step in range(1, repeats + 1):
        started = time.perf_counter()
        path = save_training_state(
            store,
            step=step,
            epoch=0,
            step_in_epoch=step,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=None,
            extra={},
        )
        saves.append(time.perf_counter() - started)
        started = time.perf_counter()
        found = read_newest_state(store)
        assert found is not None
        apply_training_state(
            found[1], found[0], model=model, optimizer=optimizer, scheduler=scheduler, scaler=None
        )
        loads.append(time.perf_counter() - started)
    return {
        "parameters": float(sum(p.numel() for p in model.parameters())),
        "size_mb": path.stat().st_size / 1e6,
        "save_s": statistics.median(saves),
        "load_s": statistics.median(loads),
    }


def kill_trials(workdir: Path, trials: int, every: int, how: signal.Signals) -> list[dict[str, float]]:
    data, code = workdir / "data", workdir / "code"
    if not data.exists():
        subprocess.run(
            [
                sys.executable,
                str(TRAINING_CODE / "data" / "prepare_cifar10.py"),
                "synth",
                str(data),
                "--train",
                "1024",
                "--test",
                "0",
            ],
            check=True,
            capture_output=True,
        )
        shutil.copytree(
            TRAINING_CODE / "ddp", code, ignore=shutil.ignore_patterns("Dockerfile", "__pycache__")
        )
        shutil.copytree(
            TRAINING_CODE / "common", code / "common", ignore=shutil.ignore_patterns("__pycache__")
        )
    results = []
    for _ in range(trials):
        base = workdir / "ml"
        shutil.rmtree(base, ignore_errors=True)
        hps = {
            "epochs": 50,
            "batch_size": 32,
            "width": 8,
            "checkpoint_every_steps": every,
            "log_every_steps": 1,
        }
        env = {
            **os.environ,
            "SAGEMAKER_BASE_DIR": str(base),
            "SM_CHANNEL_TRAIN": str(data),
            "SM_HPS": json.dumps(hps),
            "PYTHONUNBUFFERED": "1",
        }
        log_path = workdir / "train.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, str(code / "train_ddp.py")], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            while not list((base / "checkpoints").glob("step-*.ckpt")):
                time.sleep(0.01)
            time.sleep(random.uniform(0.2, 2.0))
            sent = time.monotonic()
            proc.send_signal(how)
            proc.wait(timeout=120)
            exited = time.monotonic()
        text = log_path.read_text()
        done = max(int(s) for s in re.findall(r"^epoch=\d+ step=(\d+)", text, re.M))
        newest = CheckpointStore(base / "checkpoints").newest()
        assert newest is not None
        stopped = re.search(r"SIGTERM: stopping at step (\d+)", text)
        reached = int(stopped.group(1)) if stopped else done
        results.append(
            {
                "steps_done": reached,
                "checkpoint_step": newest[0],
                "lost": reached - newest[0],
                "exit_s": exited - sent,
            }
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--every", type=int, default=20, help="checkpoint_every_steps of the kill trials")
    parser.add_argument("--width", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtrain-ckpt-") as tmp:
        figures = save_load_times(Path(tmp) / "store", args.repeats, args.width)
        print(
            f"checkpoint of CifarNet(width={args.width}): {figures['parameters'] / 1e6:.2f}M parameters,"
            f" {figures['size_mb']:.1f} MB; save {figures['save_s'] * 1000:.0f} ms,"
            f" load {figures['load_s'] * 1000:.0f} ms (median of {args.repeats})"
        )
        for how in (signal.SIGTERM, signal.SIGKILL):
            trials = kill_trials(Path(tmp) / "kill", args.trials, args.every, how)
            lost = [t["lost"] for t in trials]
            exits = ", ".join(f"{t['exit_s']:.2f}s" for t in trials)
            print(
                f"{how.name}: steps lost {lost} (checkpoint_every_steps={args.every}); exit after signal"
                f" {exits}; stopped at steps"
                f" {[t['steps_done'] for t in trials]}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
