"""`cdk synth` time and template size of the whole app with no teams, 1 team and 10 teams
(issue 29's figure): the CDK CLI as a platform team runs it (`npx --no-install cdk synth -c
teams=...`), each run into a fresh temporary directory; then each stack's template size and
resource count (CloudFormation allows 500 resources and a 1 MB template per stack: the per-team
resources of the training and orchestration stacks are what grows).

Usage: .venv/bin/python benchmarks/team_synth.py [--runs N] [--teams 0,1,10]
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

from dtrain.node_banners import QUIET_NODE_ENV

ROOT = Path(__file__).resolve().parent.parent


def teams_context(count: int) -> str:
    # Team names are [a-z][a-z0-9]{0,11}; limits on every other team, as a platform would set some.
    teams = {
        f"team{i}": ({"instance_types": ["ml.g5.xlarge"], "max_run_seconds": 86400} if i % 2 else {})
        for i in range(count)
    }
    return json.dumps(teams)


def synth_once(count: int) -> tuple[float, dict[str, tuple[int, int]]]:
    """(wall seconds, {stack: (template bytes, resources)})."""
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true", **QUIET_NODE_ENV}
    with tempfile.TemporaryDirectory(prefix="dtrain-team-synth-") as outdir:
        command = ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", outdir]
        if count:
            command += ["-c", f"teams={teams_context(count)}"]
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        sizes = {}
        for template in sorted(Path(outdir).glob("*.template.json")):
            body = template.read_bytes()
            sizes[template.name.removesuffix(".template.json")] = (
                len(body),
                len(json.loads(body).get("Resources", {})),
            )
    return wall, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--teams", default="0,1,10")
    args = parser.parse_args()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load: {load} ({os.cpu_count()} cores)")
    print("| teams | cdk synth (s, median) | stack | template bytes | resources |")
    print("|---|---|---|---|---|")
    for count in (int(c) for c in args.teams.split(",")):
        runs = [synth_once(count) for _ in range(args.runs)]
        wall = statistics.median(w for w, _ in runs)
        sizes = runs[-1][1]
        total = sum(b for b, _ in sizes.values()), sum(r for _, r in sizes.values())
        for i, (stack, (size, resources)) in enumerate(sizes.items()):
            head = f"| {count} | {wall:.1f}" if i == 0 else "| |"
            print(f"{head} | {stack} | {size:,} | {resources} |")
        print(f"| | | all stacks | {total[0]:,} | {total[1]} |")


if __name__ == "__main__":
    main()
