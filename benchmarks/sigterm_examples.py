"""SIGTERM to every simulated host's PID 1, per example, through the images' real entry chains:
signal to checkpoint on disk, steps lost, each host's exit code.

    .venv/bin/python benchmarks/sigterm_examples.py [--examples torchrun pytorchddp ...]

Per example (dtrain/local/entry_chain.py, one namespace set per host; two hosts on a private
bridge, dtrain/local/host_network.py): tiny CIFAR-10 sample, tiny model, checkpoints only at
SIGTERM (checkpoint_every_steps=0, except where the trainer also saves at epoch ends). Once the
trainer logged a step (or an epoch: the Keras trainers log per epoch), SIGTERM goes to each
host's PID 1 at once, as StopTrainingJob does. Reported: seconds from the signal to the first
new file under checkpoints/, the step the trainer says it stopped at ("SIGTERM: stopping at step
N") against the newest step it had logged (steps lost), each host's exit code, and whether every
host ended within SageMaker's 120 s grace. smdistributed is refused by the spec rules on these
images (no SMDDP library on CPU), so it has no row.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dtrain.commands.data_cmd import make_cifar10_sample  # noqa: E402
from dtrain.local.config import training_code_dir  # noqa: E402
from dtrain.local.entry_chain import (  # noqa: E402
    image_toolkit_bin,
    job_ssh_dir,
    namespace_init_pid,
    prepare_job_trees,
    small_job,
    start_chain,
)
from dtrain.local.host_network import HostNetwork  # noqa: E402

TORCH_HPS = {"epochs": 1000, "batch_size": 32, "width": 8, "log_every_steps": 1, "checkpoint_every_steps": 0}
KERAS_HPS = {"epochs": 1000, "batch_size": 16, "width": 8, "checkpoint_every_steps": 0}
# name: (image, distribution, entry point, hosts, ranks per host, hyperparameters, data format)
EXAMPLES: dict[str, tuple[str, str | None, str, int, int, dict[str, Any], str]] = {
    "torchrun": ("ddp", "torch_distributed", "train_ddp.py", 2, 1, TORCH_HPS, "batches"),
    "pytorchddp-mpirun": ("ddp", "pytorchddp", "train_ddp.py", 1, 2, TORCH_HPS, "batches"),
    # The same over two hosts: rank 1 under algo-2's orted, each host's entry script signalling its own.
    "pytorchddp-mpirun-2-hosts": ("ddp", "pytorchddp", "train_ddp.py", 2, 1, TORCH_HPS, "batches"),
    "horovod-pytorch": ("horovod", "mpi", "train_hvd_torch.py", 1, 2, TORCH_HPS, "batches"),
    "horovod-pytorch-2-hosts": ("horovod", "mpi", "train_hvd_torch.py", 2, 1, TORCH_HPS, "batches"),
    "horovod-keras": ("horovod", "mpi", "train_hvd_keras.py", 1, 2, KERAS_HPS, "tfrecord"),
    "multi-worker-mirrored": (
        "horovod", "multi_worker_mirrored_strategy", "train_tf_keras.py", 2, 1, KERAS_HPS, "tfrecord",
    ),
    "parameter-server": ("horovod", "parameter_server", "train_tf_keras.py", 2, 1, KERAS_HPS, "tfrecord"),
}  # fmt: skip
STEP = re.compile(r"(?<![_\w])step=(\d+)")
STOPPED = re.compile(r"SIGTERM: stopping at step (\d+)")
GRACE_S = 120.0


def _data(tmp: Path, kind: str) -> Path:
    batches = tmp / "batches"
    if not batches.exists():
        make_cifar10_sample(batches, train=256, test=64)
    if kind == "batches":
        return batches
    records = tmp / "tfrecord"
    if not records.exists():
        script = training_code_dir() / "data" / "prepare_cifar10.py"
        python = image_toolkit_bin("horovod") / "python"
        subprocess.run([str(python), str(script), "tfrecord", str(batches), str(records)], check=True)
    return records


def trial(name: str, tmp: Path) -> dict[str, Any]:
    image, distribution, entry, hosts, ranks, hps, kind = EXAMPLES[name]
    spec = small_job(image, distribution, entry_point=entry, hosts=hosts, hyperparameters=hps)
    workdir = tmp / name
    bases = prepare_job_trees(workdir, spec, ranks=ranks, data=_data(tmp, kind))
    names = [f"algo-{i + 1}" for i in range(hosts)]
    network = HostNetwork(names).open() if hosts > 1 else None
    ssh = job_ssh_dir(workdir / "ssh")
    logs = [workdir / f"{host}.log" for host in names]
    chains: list[subprocess.Popen[str]] = []
    try:
        for host, base, log in zip(names, bases, logs, strict=True):
            with open(log, "w") as out:
                chains.append(
                    start_chain(
                        image,
                        base,
                        toolkit_bin=image_toolkit_bin(image),
                        hostname=host,
                        hosts=names,
                        output=out,
                        network=network,
                        ssh_dir=ssh,
                    )
                )

        def text() -> str:
            return "".join(log.read_text() for log in logs)

        started = time.monotonic()
        while not STEP.search(text()):
            if any(c.poll() is not None for c in chains) or time.monotonic() - started > 300:
                raise SystemExit(f"{name}: no step logged:\n{text()[-3000:]}")
            time.sleep(0.05)
        time.sleep(1.0)  # a few steps more, so that the signal lands mid-epoch
        reached = max((int(s) for s in STEP.findall(text())), default=0)
        before = {p.name for b in bases for p in (b / "checkpoints").glob("*")}
        sent = time.monotonic()
        for chain in chains:
            os.kill(namespace_init_pid(chain), signal.SIGTERM)
        on_disk = None
        while any(c.poll() is None for c in chains) and time.monotonic() - sent < GRACE_S + 30:
            if on_disk is None and {p.name for b in bases for p in (b / "checkpoints").glob("*")} - before:
                on_disk = time.monotonic() - sent
            time.sleep(0.01)
        ended = time.monotonic() - sent
        codes = [c.poll() for c in chains]
    finally:
        for chain in chains:
            if chain.poll() is None:
                os.killpg(chain.pid, signal.SIGKILL)
                chain.wait()
        if network is not None:
            network.close()
    stopped = [int(s) for s in STOPPED.findall(text())]
    return {
        "example": name,
        "signal_to_checkpoint_s": None if on_disk is None else round(on_disk, 2),
        "stopped_at_step": max(stopped) if stopped else None,
        "newest_logged_step": reached,
        "steps_lost": None if not stopped else max(0, reached - max(stopped)),
        "exit_codes": codes,
        "ended_within_grace": ended <= GRACE_S and None not in codes,
        "signal_to_end_s": round(ended, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", choices=sorted(EXAMPLES), default=list(EXAMPLES))
    parser.add_argument("--keep", type=Path, help="work here and keep the hosts' logs")
    args = parser.parse_args()
    print(json.dumps({"load": os.getloadavg()}))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.examples:
            print(json.dumps(trial(name, args.keep or Path(tmp))), flush=True)
    print(json.dumps({"load": os.getloadavg()}))


if __name__ == "__main__":
    main()
