"""Wall time of `npx --no-install cdk synth` for the whole app: median of 5 runs (goal <= 20 s).

Each run synthesizes into a fresh temporary directory, so no run reuses another's staged assets.
Usage: .venv/bin/python benchmarks/synth_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from dtrain.node_banners import QUIET_NODE_ENV

ROOT = Path(__file__).resolve().parent.parent


def synth_once() -> tuple[float, float]:
    """(wall seconds, CPU seconds of the CLI and the Python app it runs)."""
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        **QUIET_NODE_ENV,
    }
    with tempfile.TemporaryDirectory(prefix="dtrain-synth-") as outdir:
        cpu_before = _children_cpu()
        started = time.perf_counter()
        subprocess.run(
            ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", outdir],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started, _children_cpu() - cpu_before


def _children_cpu() -> float:
    # CPU time is reported beside wall time because the wall time on a shared 2-core machine
    # mostly measures the neighbours' load.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [synth_once() for _ in range(args.runs)]
    times = [wall for wall, _ in runs]
    cpu = [c for _, c in runs]
    print(
        json.dumps(
            {
                "benchmark": "cdk synth (whole app)",
                "runs": args.runs,
                "median_s": round(statistics.median(times), 2),
                "min_s": round(min(times), 2),
                "max_s": round(max(times), 2),
                "times_s": [round(t, 2) for t in times],
                "median_cpu_s": round(statistics.median(cpu), 2),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
