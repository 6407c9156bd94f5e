"""README lines before and after, and the lines of each docs/ page (issue 25's figure).

    .venv/bin/python benchmarks/doc_lines.py [--against REF]   (default REF: 41c1613, before issue 25)

Counts lines as `wc -l` does. REF's README is read from git, so the figure is reproducible from
any checkout that has that commit.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lines(text: str) -> int:
    return text.count("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="41c1613", help="the commit to compare with")
    args = parser.parse_args()
    before = subprocess.run(
        ["git", "show", f"{args.against}:README.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    print(f"README.md at {args.against}: {lines(before)} lines")
    print(f"README.md now: {lines((ROOT / 'README.md').read_text(encoding='utf-8'))} lines")
    pages = sorted((ROOT / "docs").glob("*.md"))
    total = 0
    for page in pages:
        count = lines(page.read_text(encoding="utf-8"))
        total += count
        print(f"  docs/{page.name}: {count}")
    print(f"docs/: {len(pages)} pages, {total} lines")


if __name__ == "__main__":
    main()
