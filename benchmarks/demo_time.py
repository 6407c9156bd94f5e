"""Total time of the local demo: sample data (when missing) + `dtrain local
examples/ddp_torchrun.json --hosts 2` on CPU. Goal: about a minute on a 2-core machine.

    .venv/bin/python benchmarks/demo_time.py [--runs 1]

Each run uses a fresh work dir and data dir, so the data generation is always included,
and starts `python -m dtrain.demo.local_demo`-equivalent code in a subprocess as `make demo` does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CODE = (
    "import sys; from pathlib import Path; from dtrain.demo.local_demo import run_local_demo; "
    "sys.exit(run_local_demo(workdir=Path(sys.argv[1]), data_dir=Path(sys.argv[2]), live=False))"
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    totals = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-c", CODE, f"{tmp}/work", f"{tmp}/data"],
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            total = time.monotonic() - start
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:])
            raise SystemExit(f"demo run {run} failed (exit {done.returncode})")
        made = next((line for line in done.stdout.splitlines() if line.startswith("sample data")), "")
        steps = [line for line in done.stdout.splitlines() if "train_loss=" in line]
        print(f"run {run}: {total:.1f}s total; {made}; last metric line: {steps[-1] if steps else '-'}")
        totals.append(total)
        cpu = os.times()
        print(f"  CPU seconds of the demo's processes so far: {cpu.children_user + cpu.children_system:.1f}")
    print(f"demo total: {min(totals):.1f}s best of {len(totals)}; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
