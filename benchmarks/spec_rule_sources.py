"""Where the job spec's value rules are written, at two git revisions (issue 25's figures).

    python benchmarks/spec_rule_sources.py [BEFORE] [AFTER]    (defaults: 527d9f5 and HEAD)

Over dtrain/, stacks/ and lambda/ (tests and docs left out), with comments and docstrings
removed (each module parsed and unparsed), it counts:
- the places each rule is spelled: the job-name pattern or its 63-character length as a
  literal; an S3 URI refusal text or schema pattern; a tags check or a tag's schema. Each place
  is printed with its file, so the count can be read and argued with;
- the lines of the spec blocks' hand-written JSON Schema (dtrain/jobspec/schema.py and the
  per-block schema sections) and of the value vocabulary (dtrain/jobspec/values.py).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys

RULES = {
    "job name": re.compile(r"-\*\[a-zA-Z0-9\]|[<>]=? 63\b|\[:63\]|\b63\)|= 63$"),
    "S3 URI": re.compile(r"must be an? (s3://|S3) URI|'\^s3://|S3_URI_RE = |S3_SCHEMA = "),
    "tags": re.compile(r"def (_tags|check_tags)\(\s*(value|field)|'Key': \{'type'"),
}
# Sections of a block module that held its hand-written schema before the tables generated it.
SCHEMA_SECTIONS = {
    "dtrain/jobspec/processing_spec.py": ("# JSON Schema of each accepted argument", "def processing_schema"),
    "dtrain/jobspec/inference_spec.py": ("# --- JSON Schema", "def deploy_schema"),
}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def show(rev: str, path: str) -> str:
    try:
        return git("show", f"{rev}:{path}")
    except subprocess.CalledProcessError:
        return ""


def _code_only(source: str) -> list[str]:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        if docstring and isinstance(first.value.value, str):  # type: ignore[union-attr]
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined,index]
    return ast.unparse(tree).splitlines()


def rule_places(rev: str) -> dict[str, list[str]]:
    files = git("ls-tree", "-r", "--name-only", rev, "dtrain", "stacks", "lambda").splitlines()
    places: dict[str, list[str]] = {rule: [] for rule in RULES}
    for path in (f for f in files if f.endswith(".py")):
        for line in _code_only(show(rev, path)):
            for rule, pattern in RULES.items():
                if pattern.search(line):
                    places[rule].append(path)
    return places


def schema_lines(rev: str) -> int:
    total = len(show(rev, "dtrain/jobspec/schema.py").splitlines())
    for path, (begin, generated) in SCHEMA_SECTIONS.items():
        text = show(rev, path)
        if begin in text:
            section = text[text.index(begin) :]
            total += len(section.splitlines())
        elif generated in text:
            total += len(text[text.index(generated) :].splitlines())
    return total


def main() -> None:
    revs = [*sys.argv[1:3], "527d9f5", "HEAD"][:2] if len(sys.argv) < 3 else sys.argv[1:3]
    for label, rev in zip(("before", "after"), revs, strict=True):
        places = rule_places(rev)
        vocabulary = len(show(rev, "dtrain/jobspec/values.py").splitlines())
        print(f"{label} ({rev}): schema by hand {schema_lines(rev)} lines; vocabulary {vocabulary} lines")
        for rule, where in places.items():
            print(f"  {rule}: {len(where)} places: {', '.join(sorted(set(where)))}")


if __name__ == "__main__":
    main()
