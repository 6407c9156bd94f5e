"""Do the synthesized templates differ between a git ref and the working tree? Per configuration,
per CloudFormation stack name (not artifact id or construct path, which a refactor of the
construct tree may change while the deployed stacks stay the same).

Each side is synthesized in its own Python process with PYTHONPATH at that tree (the ref is
exported with `git archive` into a temporary folder), through dtrain.constructs.platform_app's
build_app, as app.py and the tests build it. Prints, per configuration, the stack names on each
side and the stacks whose templates differ (with the first differing keys), and exits 1 on any
difference. Asset hashes are masked, as in tests/stacks/test_snapshots.py: a Lambda asset's hash
is its output's, whose .pyc headers carry the sources' mtimes, and `git archive` gives every
file the commit's time.

Usage: PYTHONPATH=$PWD .venv/bin/python benchmarks/template_diff.py [--ref main] [--config NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The configurations the suite synthesizes (tests/conftest.py, tests/stacks/test_alternate_configs.py,
# the emulator): cdk.json's context with these on top.
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "emulator": {"emulator": True, "removal_policy": "destroy"},
    "explicit-env": {
        "stack_prefix": "Dev",
        "account": "123456789012",
        "region": "us-west-2",
        "network.max_azs": 3,
        "network.availability_zones": ["us-west-2a", "us-west-2b", "us-west-2c"],
        "fsx.enabled": False,
    },
    "imported-vpc": {
        "account": "123456789012",
        "region": "eu-west-1",
        "emulator": True,
        "removal_policy": "destroy",
        "network.vpc_id": "vpc-0123456789abcdef0",
        "network.vpc_cidr": "172.31.0.0/16",
        "network.availability_zones": ["eu-west-1a", "eu-west-1b"],
        "network.private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "network.private_route_table_ids": ["rtb-0123456789abcdef0", "rtb-0123456789abcdef1"],
        "fsx.deployment_type": "SCRATCH_2",
        "efs.enabled": False,
    },
}

# Run in the synthesizing process: the templates by stack name, as JSON on stdout.
SYNTH = """
import json, sys, tempfile
from dtrain.constructs.platform_app import build_app, cdk_json_context
with tempfile.TemporaryDirectory() as out:
    app, _ = build_app(cdk_json_context(json.loads(sys.argv[1])), outdir=out)
    assembly = app.synth()
    print(json.dumps({s.stack_name: s.template for s in assembly.stacks}))
"""


ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def synth(tree: Path, overrides: dict[str, Any]) -> tuple[dict[str, Any], float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "CDK_DISABLE_CLI_TELEMETRY": "true"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", SYNTH, json.dumps(overrides)],
        cwd=tree, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"synth failed in {tree} with {overrides}:\n{done.stderr[-3000:]}")
    masked = ASSET_HASH.sub("<asset-hash>", done.stdout.strip().splitlines()[-1])
    templates: dict[str, Any] = json.loads(masked)
    return templates, time.perf_counter() - started


def differing_keys(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[str] = []
        for key in sorted(set(a) | set(b)):
            found += differing_keys(a.get(key), b.get(key), f"{path}/{key}")
        return found
    return [] if a == b else [path or "/"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ref", default="main")
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS))
    parser.add_argument("--keep", type=Path, help="write each side's templates under this folder")
    args = parser.parse_args()
    differ = False
    with tempfile.TemporaryDirectory(prefix="dtrain-ref-") as tmp:
        base = Path(tmp)
        archive = subprocess.run(["git", "archive", args.ref], cwd=ROOT, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        for name in args.config or list(CONFIGS):
            before, before_s = synth(base, CONFIGS[name])
            after, after_s = synth(ROOT, CONFIGS[name])
            if args.keep:
                for side, templates in (("ref", before), ("tree", after)):
                    folder = args.keep / name / side
                    folder.mkdir(parents=True, exist_ok=True)
                    for stack, body in templates.items():
                        (folder / f"{stack}.json").write_text(json.dumps(body, indent=1, sort_keys=True))
            changed = {
                stack: differing_keys(before.get(stack), after.get(stack))[:5]
                for stack in sorted(set(before) | set(after))
                if before.get(stack) != after.get(stack)
            }
            differ = differ or bool(changed)
            print(json.dumps({
                "config": name, "ref": args.ref, "stacks_ref": sorted(before), "stacks_tree": sorted(after),
                "differing": changed, "synth_s_ref": round(before_s, 1), "synth_s_tree": round(after_s, 1),
            }))  # fmt: skip
    print(json.dumps({"load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
