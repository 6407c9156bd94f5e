"""Whether a change to the stacks changed who may do what, or only how statements are grouped.

    .venv/bin/python benchmarks/iam_grant_sets.py [--before REV]

For each pinned stack template (tests/stacks/__snapshots__), the set of IAM grants (holder,
action, resource, condition: tests/stacks/iam_grants.py) at REV (default HEAD) and in the
working tree; prints each stack's statement and grant counts and every grant removed or added.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.stacks.iam_grants import grants  # noqa: E402

SNAPSHOTS = "tests/stacks/__snapshots__/test_snapshots"


def _statement_count(template: dict[str, Any]) -> int:
    return sum(
        len(r["Properties"]["PolicyDocument"]["Statement"])
        for r in template.get("Resources", {}).values()
        if r.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", default="HEAD")
    args = parser.parse_args()
    for path in sorted((ROOT / SNAPSHOTS).glob("*.json")):
        rel = path.relative_to(ROOT).as_posix()
        before = json.loads(subprocess.check_output(["git", "-C", str(ROOT), "show", f"{args.before}:{rel}"]))
        after = json.loads(path.read_text())
        old, new = grants(before), grants(after)
        stack = path.stem.split("[")[-1].rstrip("]")
        print(
            f"{stack}: statements {_statement_count(before)} -> {_statement_count(after)}, "
            f"grants {len(old)} -> {len(new)}"
        )
        for grant in sorted(old - new):
            print("  removed", grant)
        for grant in sorted(new - old):
            print("  added  ", grant)


if __name__ == "__main__":
    main()
