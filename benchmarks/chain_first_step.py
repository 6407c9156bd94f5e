"""Spec to first training step through the image's real entry chain, 1 and 2 hosts, beside
today's `dtrain local` launch of the same job (goal: <= 5 s on 2 quiet cores).

    .venv/bin/python benchmarks/chain_first_step.py [--runs 3] [--hosts 1 2]

The chain (dtrain/local/entry_chain.py): per host, its own PID/UTS/mount namespaces and, for 2
hosts, its own network namespace on a private bridge (dtrain/local/host_network.py); tini -g, the
entry script, the toolkit's `train` (.venv-toolkit: sagemaker-training + the PyTorch toolkit),
torchrun, train_ddp.py on CPU. Timed from the spec (host trees written, namespaces made: all
inside the clock) to the first `step=1` line on algo-1. "today" is benchmarks/local_first_step.py's
`dtrain local examples/ddp_torchrun.json` run, the same job through local mode's own launchers.
"""

from __future__ import annotations

import argparse
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

from benchmarks.local_first_step import one_run  # noqa: E402
from dtrain.commands.data_cmd import make_cifar10_sample  # noqa: E402
from dtrain.local.entry_chain import image_toolkit_bin, prepare_job_trees, small_job, start_chain  # noqa: E402
from dtrain.local.host_network import HostNetwork  # noqa: E402

STEP = re.compile(r"\bstep=1\b")
HPS = {
    "epochs": 1,
    "max_steps": 2,
    "log_every_steps": 1,
    "width": 8,
    "batch_size": 32,
    "checkpoint_every_steps": 0,
}


def chain_run(data: Path, workdir: Path, hosts: int) -> float:
    start = time.monotonic()
    spec = small_job("ddp", "torch_distributed", hosts=hosts, hyperparameters=HPS)
    bases = prepare_job_trees(workdir, spec, ranks=1, data=data)
    names = [f"algo-{i + 1}" for i in range(hosts)]
    network = HostNetwork(names).open() if hosts > 1 else None
    logs = [workdir / f"{name}.log" for name in names]
    chains = []
    try:
        for name, base, log in zip(names, bases, logs, strict=True):
            with open(log, "w") as out:
                chains.append(
                    start_chain(
                        "ddp",
                        base,
                        toolkit_bin=image_toolkit_bin("ddp"),
                        hostname=name,
                        hosts=names,
                        output=out,
                        network=network,
                    )
                )
        while not STEP.search(logs[0].read_text()):
            if any(c.poll() not in (None, 0) for c in chains) or time.monotonic() - start > 300:
                raise SystemExit(f"chain failed: {logs[0].read_text()[-2000:]}")
            time.sleep(0.02)
        first_step = time.monotonic() - start
        for chain in chains:
            chain.wait(timeout=300)
        return first_step
    finally:
        for chain in chains:
            if chain.poll() is None:
                os.killpg(chain.pid, signal.SIGKILL)
                chain.wait()
        if network is not None:
            network.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_cifar10_sample(data, train=256, test=64)
        for hosts in args.hosts:
            chain = [chain_run(data, Path(tmp) / f"chain-{hosts}-{i}", hosts) for i in range(args.runs)]
            today = [
                one_run(data, Path(tmp) / f"today-{hosts}-{i}", hosts)["first_step"] for i in range(args.runs)
            ]
            runs = ", ".join(f"{c:.2f}" for c in chain)
            print(f"{hosts} host(s): chain first step {statistics.median(chain):.2f}s (runs {runs})", end="")
            runs = ", ".join(f"{t:.2f}" for t in today)
            print(f"; today's launch {statistics.median(today):.2f}s (runs {runs})")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
