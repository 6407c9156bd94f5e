"""train_ddp.py's Trainer against a bare PyTorch loop doing identical work, in one process.

Both sides load the same synthetic CIFAR-10-shaped npz from disk, put it on the device, build the
same CifarNet (bf16 autocast + channels_last on CUDA), draw the same flip + translate augmentation
on the device from a generator seeded by (seed, step), and take SGD-Nesterov steps on the same
global batch. The bare loop is what a person would write by hand: a constant learning rate, no
stop-signal check, no metric lines, no checkpoints, no warm-up. The Trainer runs as a job runs it
(one process, no launcher), with checkpoints off (``checkpoint_every_steps=0``) and no test
channel, so its epochs hold only training steps, as the bare loop's do.

Per side and mode (eager, ``torch.compile``) it prints the time to the first step (start of the
side -> first step finished on the device: data to the device, model, compilation, autotuning),
the first epoch's rate, the steady rate (median of epochs 2..N over the repeats; on a CPU also
per CPU-second, which other processes on the machine do not change), and the ratio trainer/bare
(goal >= 0.95). Sides alternate in one process, so the one that runs first also pays the
process's one-time costs (CUDA context, cuDNN's algorithm search, compiling a graph the other then
finds cached): the trainer runs first in the first repeat; fresh-process first-step times come from
benchmarks/time_to_accuracy.py.

    .venv/bin/python benchmarks/trainer_bare_loop.py [--quick] [--modes eager,compiled]
        [--train 50000] [--batch 1024] [--width 64] [--epochs 6] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for folder in (REPO / "training_code", REPO / "training_code" / "ddp"):
    sys.path.insert(0, str(folder))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from common.cifar_format import load_split, make_synthetic, write_npz  # noqa: E402
from common.cifar_model import CifarNet, ModelConfig  # noqa: E402
from common.cifar_train_config import TrainConfig, set_determinism  # noqa: E402
from common.device_data import Augmentation, DeviceImages, epoch_order  # noqa: E402
from common.launcher_env import detect_rank_info  # noqa: E402
from common.metrics import RankZeroLog  # noqa: E402
from common.sagemaker_env import SageMakerEnv  # noqa: E402
from common.stop_signal import StopRequest  # noqa: E402
from common.torch_distributed import StopAgreement, init_distributed  # noqa: E402
from train_ddp import Trainer  # noqa: E402


@dataclass
class Side:
    """What one run of one side measured."""

    first_step_s: float = 0.0
    # (wall seconds, CPU seconds of this process) per epoch, in order
    epochs: list[tuple[float, float]] = field(default_factory=list)


class EpochClock(RankZeroLog):
    """The trainer's log: stamps the end of each epoch (its metric line) instead of printing it."""

    def __init__(self, side: Side, verbose: bool) -> None:
        super().__init__(0)
        self.side, self.verbose = side, verbose
        self.mark = (time.perf_counter(), time.process_time())

    def __call__(self, message: str) -> None:
        if message.startswith("prewarm:"):  # its cost is in the time to the first step, not epoch 1
            self.mark = (time.perf_counter(), time.process_time())
        if self.verbose:
            print(f"    trainer: {message}", flush=True)

    def metrics(self, **values: float | int | None) -> None:
        now = (time.perf_counter(), time.process_time())
        self.side.epochs.append((now[0] - self.mark[0], now[1] - self.mark[1]))
        self.mark = now
        self(" ".join(f"{k}={v}" for k, v in values.items()))


def job_environ(base: Path, data: Path, hyperparameters: dict[str, object], gpus: int) -> dict[str, str]:
    return {
        "SAGEMAKER_BASE_DIR": str(base),
        "SM_HOSTS": json.dumps(["algo-1"]),
        "SM_CURRENT_HOST": "algo-1",
        "SM_NUM_GPUS": str(gpus),
        "SM_CHANNELS": json.dumps(["train"]),
        "SM_CHANNEL_TRAIN": str(data),
        "SM_HPS": json.dumps(hyperparameters),
        "SM_MODEL_DIR": str(base / "model"),
    }


def run_trainer(
    args: argparse.Namespace, data: Path, base: Path, device: torch.device, compiled: bool
) -> Side:
    hps = {
        "epochs": args.epochs,
        "batch_size": args.batch,
        "width": args.width,
        "compile": compiled,
        "checkpoint_every_steps": 0,
        "seed": 0,
    }
    sm = SageMakerEnv.from_environ(job_environ(base, data, hps, 1 if device.type == "cuda" else 0))
    config = TrainConfig.from_hyperparameters(sm.hyperparameters)
    set_determinism(config)
    ctx = init_distributed(detect_rank_info(sm, {}), sm)
    side = Side()
    log = EpochClock(side, args.verbose)
    trainer = Trainer(sm, config, ctx, log)
    log.mark = (time.perf_counter(), time.process_time())  # epoch 1 starts with run()
    finished = trainer.run(StopAgreement(ctx, StopRequest()))
    assert finished and trainer.first_step_s is not None
    side.first_step_s = trainer.first_step_s
    return side


def run_bare(args: argparse.Namespace, data: Path, device: torch.device, compiled: bool) -> Side:
    started = time.perf_counter()
    on_gpu = device.type == "cuda"
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    split = load_split(data, "train")
    assert split is not None
    config = ModelConfig(width=args.width)
    images = DeviceImages(split, device, config.mean, config.std, channels_last=on_gpu)
    model = CifarNet(config).to(device)
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4)
    net = torch.compile(model) if compiled else model
    generator = torch.Generator(device=device)
    batch, steps = args.batch, len(images) // args.batch
    side = Side()
    mark = (time.perf_counter(), time.process_time())
    for epoch in range(args.epochs):
        order = epoch_order(len(images), 1, seed=0, epoch=epoch).to(device)
        loss_sum = torch.zeros((), device=device)
        for step in range(steps):
            augment = Augmentation.draw(
                seed=0,
                step=epoch * steps + step,
                global_batch=batch,
                rank=0,
                world_size=1,
                generator=generator,
            )
            x, y = images.augmented_batch(order[step * batch : (step + 1) * batch], augment)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on_gpu):
                loss = F.cross_entropy(net(x).float(), y, label_smoothing=0.2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            if not side.first_step_s:
                if on_gpu:
                    torch.cuda.synchronize(device)
                side.first_step_s = time.perf_counter() - started
        loss_sum.item()  # waits for the device, as the trainer's epoch-end loss does
        now = (time.perf_counter(), time.process_time())
        side.epochs.append((now[0] - mark[0], now[1] - mark[1]))
        mark = now
        if args.verbose:
            print(
                f"    bare: epoch {epoch + 1} {steps * batch / side.epochs[-1][0]:.0f} samples/s", flush=True
            )
    return side


def summarize(name: str, runs: list[Side], samples: int, on_cpu: bool) -> dict[str, float]:
    steady = [samples / wall for run in runs for wall, _ in run.epochs[1:]]
    per_cpu = [samples / cpu for run in runs for _, cpu in run.epochs[1:]]
    row = {
        "first_step_s": runs[0].first_step_s,
        "first_step_s_later": statistics.median(r.first_step_s for r in runs[1:])
        if runs[1:]
        else float("nan"),
        "first_epoch": samples / runs[0].epochs[0][0],
        "steady": statistics.median(steady),
        "best": max(steady),
        "steady_cpu": statistics.median(per_cpu),
    }
    cpu = f"  per CPU-s {row['steady_cpu']:8.0f}" if on_cpu else ""
    print(
        f"  {name:<8} first step {row['first_step_s']:6.2f}s (later runs {row['first_step_s_later']:5.2f}s)"
        f"  first epoch {row['first_epoch']:8.0f}/s  steady {row['steady']:8.0f}/s"
        f" (best {row['best']:.0f}){cpu}",
        flush=True,
    )
    print(f"           epochs 2..N: {', '.join(f'{r:.0f}' for r in steady)}", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CPU-sized: 2048 samples, width 8, batch 256")
    parser.add_argument("--modes", default="eager,compiled")
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cuda or cpu")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.train, args.batch, args.width = 2048, 256, 8
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU x{torch.get_num_threads()} threads"
    )
    print(
        f"device: {name}; torch {torch.__version__}; train={args.train} batch={args.batch} width={args.width}"
        f" epochs={args.epochs} repeats={args.repeats}; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    samples = args.train // args.batch * args.batch
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="dtrain-bare-") as tmp:
        data = Path(tmp) / "data"
        write_npz(data / "cifar10_train.npz", make_synthetic(args.train, seed=0, sample_seed=1))
        for mode in args.modes.split(","):
            compiled = {"eager": False, "compiled": True}[mode]
            trainer_runs: list[Side] = []
            bare_runs: list[Side] = []
            for repeat in range(args.repeats):
                # Alternate which side goes first, so one-time costs and drift hit both.
                order = ("trainer", "bare") if repeat % 2 == 0 else ("bare", "trainer")
                for side in order:
                    if side == "trainer":
                        base = Path(tmp) / f"ml-{mode}-{repeat}"
                        trainer_runs.append(run_trainer(args, data, base, device, compiled))
                    else:
                        bare_runs.append(run_bare(args, data, device, compiled))
            print(f"{mode}:", flush=True)
            t = summarize("trainer", trainer_runs, samples, device.type == "cpu")
            b = summarize("bare", bare_runs, samples, device.type == "cpu")
            results[mode] = {"trainer": t, "bare": b}
            cpu = f", per CPU-second {t['steady_cpu'] / b['steady_cpu']:.3f}" if device.type == "cpu" else ""
            print(
                f"  ratio trainer/bare {mode}: steady {t['steady'] / b['steady']:.3f}"
                f" (best epochs {t['best'] / b['best']:.3f}){cpu}; goal >= 0.95",
                flush=True,
            )
    print("json:", json.dumps({"device": name, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
