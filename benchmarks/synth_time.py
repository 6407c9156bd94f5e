"""Wall time of `npx --no-install cdk synth` for the whole app: median of 5 runs (goal <= 20 s).

Each run synthesizes into a fresh temporary directory, so no run reuses another's staged assets.
Usage: .venv/bin/python benchmarks/synth_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def synth_once() -> float:
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    with tempfile.TemporaryDirectory(prefix="dtrain-synth-") as outdir:
        started = time.perf_counter()
        subprocess.run(
            ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", outdir],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = [synth_once() for _ in range(args.runs)]
    print(
        json.dumps(
            {
                "benchmark": "cdk synth (whole app)",
                "runs": args.runs,
                "median_s": round(statistics.median(times), 2),
                "min_s": round(min(times), 2),
                "max_s": round(max(times), 2),
                "times_s": [round(t, 2) for t in times],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
