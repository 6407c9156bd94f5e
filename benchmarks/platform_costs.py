"""The cost figures of docs/operator.md: the default platform's idle cost by resource, what each switch
saves, and `dtrain estimate` for every example, all from the packaged price table.

Synthesizes app.py once per variant (the default, then one switch at a time; about a minute
each on 2 cores) and prices the templates with dtrain.pricing.idle_cost.
Usage: .venv/bin/python benchmarks/platform_costs.py [--variants default,no-fsx,...] [--prices FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dtrain.node_banners import quiet_node_banners  # noqa: E402
from dtrain.pricing.idle_cost import idle_cost  # noqa: E402
from dtrain.pricing.price_table import load_price_table  # noqa: E402

# One switch at a time, each a set of `-c` overrides (docs/platform-team.md: Configuration keys).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "fsx.enabled=false": {"fsx.enabled": False},
    "fsx.deployment_type=SCRATCH_2": {"fsx.deployment_type": "SCRATCH_2"},
    "network.max_azs=1": {"network.max_azs": 1},
    "network.interface_endpoints=false + network.nat_gateways=1": {
        "network.interface_endpoints": False,
        "network.nat_gateways": 1,
    },
}


def _templates(overrides: dict[str, Any], outdir: Path) -> dict[str, dict[str, Any]]:
    from dtrain.constructs.synthesis import synthesize

    return synthesize(overrides, outdir).template_dicts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    parser.add_argument("--prices", default=None)
    args = parser.parse_args()
    quiet_node_banners()
    table = load_price_table(args.prices)
    print(f"prices: {table.label} ({table.path.name})")
    totals: dict[str, float] = {}
    for name in args.variants.split(","):
        with tempfile.TemporaryDirectory(prefix="dtrain-costs-") as out:
            lines = idle_cost(_templates(VARIANTS[name], Path(out)), table)
        totals[name] = sum(line.usd_month for line in lines)
        if name == "default":
            print("\n| Stack | Resource | Quantity | USD per month | How |\n|---|---|---|---:|---|")
            for line in lines:
                row = (line.stack, line.resource, line.quantity, f"{line.usd_month:,.2f}", line.how)
                print("| " + " | ".join(row) + " |")
            print(f"| | **total** | | **{totals[name]:,.2f}** | |")
    print("\n| Variant | USD per month idle | vs default |\n|---|---:|---:|")
    for name, total in totals.items():
        delta = total - totals.get("default", total)
        print(f"| {name} | {total:,.2f} | {delta:+,.2f} |")
    print("\n| Example | Worst case (USD) | Per hour after it (USD) |\n|---|---:|---:|")
    for spec in sorted((ROOT / "examples").rglob("*.json")):
        cmd = [sys.executable, "-m", "dtrain", "estimate", str(spec), "--json"]
        if args.prices:
            cmd += ["--prices", args.prices]
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
        per_hour = ", ".join(f"{x['item']} {x['usd']:.3f}" for x in out["per_hour"]) or "-"
        print(f"| {spec.relative_to(ROOT)} | {out['worst_case_usd']:,.2f} | {per_hour} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
