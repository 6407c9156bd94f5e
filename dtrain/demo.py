"""`make demo` (for now): synthesize the platform with the pinned CDK CLI and show what it would deploy.

Runs `npx --no-install cdk synth` into cdk.out/ and prints one table per stack: resource counts
by CloudFormation type. The local-mode work replaces this with a real training run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackSummary:
    name: str
    description: str
    resource_types: Counter[str]
    outputs: tuple[str, ...]
    image_assets: tuple[str, ...]

    @property
    def resource_count(self) -> int:
        return sum(self.resource_types.values())


def summarize_assembly(outdir: Path) -> list[StackSummary]:
    """Read a cloud assembly directory: one summary per CloudFormation stack, in manifest order."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    summaries = []
    for name, artifact in manifest["artifacts"].items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        resources = template.get("Resources", {})
        types = Counter(r["Type"] for r in resources.values() if r["Type"] != "AWS::CDK::Metadata")
        assets_file = outdir / f"{name}.assets.json"
        images = json.loads(assets_file.read_text()).get("dockerImages", {}) if assets_file.exists() else {}
        summaries.append(
            StackSummary(
                name=name,
                description=str(template.get("Description", "")),
                resource_types=types,
                outputs=tuple(sorted(template.get("Outputs", {}))),
                image_assets=tuple(
                    sorted(i["source"].get("dockerFile", "Dockerfile") for i in images.values())
                ),
            )
        )
    return summaries


def render_table(summaries: list[StackSummary]) -> str:
    labels = [t for s in summaries for t in s.resource_types]
    labels += [f"container image asset ({d})" for s in summaries for d in s.image_assets]
    width = max([len(label) for label in labels] + [30])
    lines = []
    for summary in summaries:
        lines.append(f"{summary.name}  ({summary.resource_count} resources, {len(summary.outputs)} outputs)")
        if summary.description:
            lines.append(f"  {summary.description}")
        for type_, count in sorted(summary.resource_types.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {type_:<{width}} {count:>3}")
        for dockerfile in summary.image_assets:
            label = f"container image asset ({dockerfile})"
            lines.append(f"    {label:<{width}} {1:>3}")
        lines.append("")
    total = sum(s.resource_count for s in summaries)
    lines.append(f"{len(summaries)} stacks, {total} resources")
    return "\n".join(lines)


def synthesize(outdir: Path) -> float:
    """Run the pinned CDK CLI's synth; return its wall time in seconds."""
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    started = time.perf_counter()
    subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", str(outdir)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return time.perf_counter() - started


def main() -> int:
    outdir = ROOT / "cdk.out"
    try:
        seconds = synthesize(outdir)
    except subprocess.CalledProcessError as error:
        print(f"cdk synth failed (exit {error.returncode})", file=sys.stderr)
        return error.returncode or 1
    print(f"\nSynthesized the dtrain platform into {outdir.relative_to(ROOT)}/ in {seconds:.1f} s:\n")
    print(render_table(summarize_assembly(outdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
