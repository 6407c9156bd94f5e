"""How much of the job spec's JSON Schema is written by hand, for issue 25's before/after.

    .venv/bin/python benchmarks/schema_figures.py [REV ...]    (default: c948c13 HEAD)

Each REV is exported with `git archive` (benchmarks/structure_figures.export) and its spec core
(dtrain/jobspec/) read with `ast`. Two figures, per module and in all:

- hand-written schema lines: source lines inside dict literals that hold a JSON Schema keyword as
  a key ("type", "properties", "pattern", ...), outside the value vocabulary (values.py, where
  each kind's schema() is written once, beside its check, for every table that uses the kind);
- rules written twice: each such literal fragment (a literal's every `properties` entry counted
  apart), i.e. a rule the parser checks in code and the schema says again by hand. A fragment
  inside a function or constant that only a check's own kind uses is still counted: what the
  figure measures is schema text not generated from a kind.
"""

from __future__ import annotations

import ast
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from structure_figures import export

KEYWORDS = frozenset(
    {
        "type", "properties", "additionalProperties", "required", "pattern", "enum", "const",
        "minLength", "maxLength", "minimum", "maximum", "items", "minItems", "maxItems",
        "anyOf", "oneOf", "allOf", "not", "propertyNames", "maxProperties", "minProperties",
    }
)  # fmt: skip
VOCABULARY = "values.py"


def _is_schema(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value in KEYWORDS for k in node.keys
    )


def _fragments(node: ast.Dict) -> int:
    """One per schema literal, plus one per entry of a literal `properties` map inside it."""
    count = 1
    for key, value in zip(node.keys, node.values, strict=True):
        if isinstance(key, ast.Constant) and key.value == "properties" and isinstance(value, ast.Dict):
            count += len(value.keys) - 1  # the map's entries, less the map itself counted as one
    return count


def module_figures(path: Path) -> tuple[int, int]:
    """(hand-written schema lines, rules written twice) of one module."""
    tree = ast.parse(path.read_text())
    outer: list[ast.Dict] = []
    inner: set[int] = set()
    for node in ast.walk(tree):
        if _is_schema(node) and id(node) not in inner:
            assert isinstance(node, ast.Dict)
            outer.append(node)
            inner.update(id(n) for n in ast.walk(node) if n is not node)
    lines: set[int] = set()
    for node in outer:
        lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    fragments = sum(_fragments(n) for n in ast.walk(tree) if _is_schema(n))
    return len(lines), fragments


def figures(tree: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in sorted((tree / "dtrain" / "jobspec").glob("*.py")):
        if path.name != VOCABULARY:
            lines, fragments = module_figures(path)
            if lines:
                out[path.name] = (lines, fragments)
    return out


def main(revs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        for rev in revs:
            got = figures(export(rev, Path(scratch)))
            vocabulary = module_figures(
                Path(scratch) / rev.replace("/", "_") / "dtrain" / "jobspec" / VOCABULARY
            )
            print(f"== {rev}")
            for name, (lines, fragments) in got.items():
                print(f"  {name:24} {lines:4} lines  {fragments:4} fragments")
            lines, fragments = sum(v[0] for v in got.values()), sum(v[1] for v in got.values())
            print(f"  {'in all':24} {lines:4} lines  {fragments:4} fragments")
            print(f"  (the vocabulary, values.py, apart: {vocabulary[0]} lines, {vocabulary[1]} fragments)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["c948c13", "HEAD"])
