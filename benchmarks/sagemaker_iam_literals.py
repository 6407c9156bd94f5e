"""How many SageMaker IAM actions the stacks write by hand, rather than derive from the table.

    .venv/bin/python benchmarks/sagemaker_iam_literals.py [ROOT]

Counts, in ROOT/stacks/**/*.py (default: this checkout), the string constants that are an IAM
action `sagemaker:<Action>` (docstrings and comments left out), and the calls (statements,
_allow(...) and the like) that hold at least one of them.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ACTION = re.compile(r"^sagemaker:[A-Z][A-Za-z]+$")


def _nested(arg: ast.AST, node: ast.AST) -> bool:
    """Whether `node` sits in a call nested inside the argument `arg`."""
    return any(isinstance(c, ast.Call) and node in ast.walk(c) for c in ast.walk(arg) if c is not arg)


def count(root: Path) -> tuple[int, int, list[str]]:
    actions, calls, where = 0, 0, []
    for path in sorted((root / "stacks").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ACTION.match(node.value):
                actions += 1
            if isinstance(node, ast.Call):
                direct = [
                    n.value
                    for arg in [*node.args, *(k.value for k in node.keywords)]
                    for n in ast.walk(arg)
                    if isinstance(n, ast.Constant)
                    and isinstance(n.value, str)
                    and ACTION.match(n.value)
                    # only the call's own arguments, not a nested call's
                    and not _nested(arg, n)
                ]
                if direct:
                    calls += 1
                    where.append(f"{path.relative_to(root)}:{node.lineno} {sorted(set(direct))}")
    return actions, calls, where


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    actions, calls, where = count(root)
    print(f"{root}: {actions} hand-written sagemaker:* actions, in {calls} calls")
    for line in where:
        print("  ", line)


if __name__ == "__main__":
    main()
