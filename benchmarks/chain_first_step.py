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

`--phases` (this checkout only, one more run per host count, under `strace -f -e trace=execve`,
which adds a little to every process start) splits the time to the first step at the chain's
process starts: dtrain's own preparation (spec, request, host trees, namespaces) up to the
first host's `unshare`; the namespace set-up up to the toolkit's `train`; the toolkit up to the
launcher it runs (torchrun); the launcher up to the rank's Python; the rank up to its first step
line. With several hosts each phase ends at its last host (the first step waits for every rank).
"""

from __future__ import annotations

import argparse
import datetime
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


def one_run(
    checkout: Path, data: Path, workdir: Path, hosts: int, wrap: list[str] | None = None
) -> tuple[float, float]:
    """(seconds to the first step line, CPU seconds of the whole run) of `dtrain local` from `checkout`."""
    command = [*(wrap or []), sys.executable, "-m", "dtrain", "local",
               str(checkout / "examples" / "ddp_torchrun.json"),
               "--hosts", str(hosts), "--workdir", str(workdir), "--no-live",
               "--data", f"train={data}", "--data", f"test={data}"]  # fmt: skip
    for value in HPS:
        command += ["--set", value]
    # An unpacked older commit has no image virtualenvs of its own: this checkout's (make setup).
    venvs = os.environ.get("DTRAIN_IMAGE_VENVS") or str((REPO / ".venv").resolve().parent)
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "200", "DTRAIN_IMAGE_VENVS": venvs}
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


# The process starts that end each phase, as `strace -f -tt -e trace=execve` writes them.
EXECVE = re.compile(r'^\d+\s+(\d\d:\d\d:\d\d\.\d+) execve\("([^"]+)", \[(.*?)\]')
PHASES = (
    ("dtrain before the chain", lambda path, args: path.endswith("/unshare") and '"/bin/bash"' in args),
    ("namespace set-up", lambda path, args: path.endswith("/bin/train")),
    ("toolkit to launcher", lambda path, args: path.endswith("/bin/torchrun")),
    ("launcher to rank", lambda path, args: "/python" in path and '"train_ddp.py"' in args),
)


def _clock(text: str) -> float:
    """Seconds since midnight of an strace -tt time of day."""
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def phases_run(data: Path, workdir: Path, hosts: int, trace: Path) -> list[tuple[str, float]]:
    """One run of this checkout under strace: each phase's seconds (see the module's docstring)."""
    now = datetime.datetime.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    start = time.time() - midnight
    first_step, _ = one_run(
        REPO, data, workdir, hosts, wrap=["strace", "-f", "-tt", "-e", "trace=execve", "-o", str(trace)]
    )
    ends: dict[str, float] = {}
    for line in trace.read_text().splitlines():
        match = EXECVE.match(line)
        if match is None or "ENOENT" in line:
            continue
        clock, path, args = match.groups()
        for name, ends_here in PHASES:
            if ends_here(path, args):
                # The first host's chain starts the set-up; every other phase ends at its last host.
                ends[name] = ends.get(name, _clock(clock)) if name == PHASES[0][0] else _clock(clock)
    marks = [start, *(ends[name] for name, _ in PHASES), start + first_step]
    names = [name for name, _ in PHASES] + ["rank to its first step"]
    return [(name, marks[i + 1] - marks[i]) for i, name in enumerate(names)]


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
    parser.add_argument("--phases", action="store_true", help="split one run per host count (strace)")
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
            if args.phases:
                split = phases_run(data, Path(tmp) / f"phases-{hosts}", hosts, Path(tmp) / f"strace-{hosts}")
                total = sum(seconds for _, seconds in split)
                print(f"{hosts} host(s), phases (one run under strace, {total:.2f} s): "
                      + "; ".join(f"{name} {seconds:.2f} s" for name, seconds in split))  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
