"""`dtrain render` wall time for the largest example, median of N runs of the real command.

Usage: .venv/bin/python benchmarks/render_time.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from dtrain.jobspec.placeholder import placeholder_platform

    examples = sorted((REPO / "examples").glob("*.json"), key=lambda p: p.stat().st_size)
    largest = examples[-1]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(placeholder_platform().to_json())
        platform_file = f.name
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "dtrain", "render", str(largest), "--platform", platform_file]
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=REPO, env=env)
        times.append(time.perf_counter() - t0)
    os.unlink(platform_file)
    print(f"dtrain render {largest.relative_to(REPO)} ({largest.stat().st_size} bytes)")
    median_ms, min_ms = statistics.median(times) * 1000, min(times) * 1000
    print(f"  median {median_ms:.0f} ms, min {min_ms:.0f} ms over {args.runs} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
