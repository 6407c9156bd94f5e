"""The local demo: sample data if missing, then the DDP example on 2 simulated hosts (CPU).

`make demo` calls `run_local_demo()` (wired by the lead in dtrain/demo/emulated.py). It goes through
`dtrain local` itself, so the demo shows exactly what a user gets.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dtrain.cli import main
from dtrain.commands.data_cmd import make_cifar10_sample
from dtrain.package_data import examples_dir

DEMO_SPEC = "examples/ddp_torchrun.json"
DEMO_DATA = Path(".dtrain") / "data" / "cifar10-sample"
# Enough for the loss to fall visibly in the example's 40 steps, small enough to make in ~1 s.
DEMO_TRAIN_IMAGES = 2560
DEMO_TEST_IMAGES = 512


def ensure_sample_data(directory: Path) -> bool:
    """Make the sample set unless it is there; True when it was made."""
    if (directory / "data_batch_1").is_file() and (directory / "test_batch").is_file():
        return False

    make_cifar10_sample(directory, train=DEMO_TRAIN_IMAGES, test=DEMO_TEST_IMAGES)
    return True


def run_local_demo(
    *, workdir: Path | None = None, data_dir: Path | None = None, hosts: int = 2, live: bool | None = None
) -> int:
    """Run the demo; returns the exit code of `dtrain local` (0 when the job completed)."""

    # Under the directory it runs in (make demo: the checkout), never beside an installed package.
    workdir = workdir or Path(".dtrain").absolute()
    data = data_dir or DEMO_DATA.absolute()
    started = time.monotonic()
    if ensure_sample_data(data):
        print(f"sample data: made {data} in {time.monotonic() - started:.1f}s")
    else:
        print(f"sample data: {data} (already there)")
    spec = examples_dir() / Path(DEMO_SPEC).name
    args = ["local", str(spec), "--hosts", str(hosts), "--workdir", str(workdir)]
    args += ["--data", f"train={data}", "--data", f"test={data}"]
    if live is not None:
        args.append("--live" if live else "--no-live")
    print(f"$ dtrain {' '.join([*args[:1], DEMO_SPEC, *args[2:]])}", flush=True)
    code = main(args)
    print(f"demo finished in {time.monotonic() - started:.1f}s (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(run_local_demo())
