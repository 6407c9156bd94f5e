"""Spec to first training step of `dtrain local`, 1 and 2 hosts, through the image's real entry
chain, beside the same run on an older commit (before local mode ran the chain: its own launchers).

    .venv/bin/python benchmarks/chain_first_step.py [--runs 3] [--hosts 1 2] [--before 6d6d859]

Each run is benchmarks/local_first_step.py's: `dtrain local examples/ddp_torchrun.json --hosts N`
as a subprocess on a small sample (made first, not timed), from the process start (spec read,
request built, host trees written, namespaces made: all inside the clock) to the first `step=1`
line. Today's runs use this checkout; `--before REF` runs the same command from `git archive REF`
unpacked into a temporary folder (its own dtrain, examples and training code; the same
interpreters). Besides wall time, which a loaded machine inflates, each run's CPU seconds (user +
system of every process it started) say what the chain costs in work. The load average is
printed before and after: the goal (<= 5 s) is for 2 quiet cores.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dtrain.commands.data_cmd import make_cifar10_sample  # noqa: E402

STEP = re.compile(r"\bstep=1\b")
HPS = ["epochs=1", "max_steps=2", "log_every_steps=1", "width=8", "batch_size=32", "checkpoint_every_steps=0"]


def one_run(checkout: Path, data: Path, workdir: Path, hosts: int) -> tuple[float, float]:
    """(seconds to the first step line, CPU seconds of the whole run) of `dtrain local` from `checkout`."""
    command = [sys.executable, "-m", "dtrain", "local", str(checkout / "examples" / "ddp_torchrun.json"),
               "--hosts", str(hosts), "--workdir", str(workdir), "--no-live",
               "--data", f"train={data}", "--data", f"test={data}"]  # fmt: skip
    for value in HPS:
        command += ["--set", value]
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "200"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    process = subprocess.Popen(
        command, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    first_step = None
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if first_step is None and STEP.search(line):
            first_step = time.monotonic() - start
    process.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0 or first_step is None:
        raise SystemExit(f"run failed (exit {process.returncode}):\n{''.join(lines[-30:])}")
    return first_step, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def unpack(ref: str, into: Path) -> Path:
    archive = into / "before.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), ref], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "before", filter="tar")
    return into / "before"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--before", default=None, help="a commit to compare with (e.g. 6d6d859)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_cifar10_sample(data, train=256, test=64)
        checkouts = {"chain": REPO}
        if args.before:
            checkouts[f"before ({args.before})"] = unpack(args.before, Path(tmp))
        for hosts in args.hosts:
            for name, checkout in checkouts.items():
                runs = [
                    one_run(checkout, data, Path(tmp) / f"{name[:6]}-{hosts}-{i}", hosts)
                    for i in range(args.runs)
                ]
                wall = ", ".join(f"{w:.2f}" for w, _ in runs)
                cpu = ", ".join(f"{c:.1f}" for _, c in runs)
                print(
                    f"{hosts} host(s), {name}: first step {statistics.median(w for w, _ in runs):.2f} s "
                    f"(runs {wall}); CPU {statistics.median(c for _, c in runs):.1f} s (runs {cpu})"
                )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
