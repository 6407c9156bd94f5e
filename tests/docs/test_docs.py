"""The docs name only what exists: every relative link (and its #anchor) leads to a file and a
heading, every `dtrain <command>` is a command of the CLI's parser, every `make <target>` a
target of the Makefile. A renamed command, page or section fails here, not in a reader's hands."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.cli import build_parser
from dtrain.config import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
# `dtrain` as a command: at the start of the code, or after a space, `$`, `(` or a path.
# Group 1: the command, or commands joined by `|`; group 2: the word after it (a subcommand of
# `emulate` or `data`, e.g. `up|status|down`).
_WORDS = r"[a-z][a-z0-9-]*(?:\s*\|\s*[a-z][a-z0-9-]*)*"
COMMAND = re.compile(rf"(?:^|(?<=[\s$(/]))dtrain ({_WORDS})(?:\s+([a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)*))?")
MAKE = re.compile(r"(?:^|(?<=[\s$(]))make ([a-z][a-z0-9-]*)")


def _without_fences(text: str) -> str:
    return FENCE.sub("", text)


def _code(text: str) -> Iterator[str]:
    """Fenced blocks, then inline code spans outside them: where commands are written."""
    for block in FENCE.finditer(text):
        yield block.group(0)
    for span in INLINE_CODE.finditer(_without_fences(text)):
        yield span.group(1)


def github_anchor(heading: str) -> str:
    """GitHub's heading id: lower case, punctuation dropped (hyphens and underscores kept),
    spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for match in HEADING.finditer(_without_fences(page.read_text(encoding="utf-8"))):
        base = github_anchor(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_the_docs_have_an_index_and_the_readme_points_to_it() -> None:
    assert (ROOT / "docs" / "README.md").is_file()
    assert "docs/README.md" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for match in LINK.finditer(_without_fences(page.read_text(encoding="utf-8"))):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor in {resolved.relative_to(ROOT)}")
    assert not broken, broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_dtrain_command_named_exists(page: Path) -> None:
    commands = _subcommands(build_parser())
    unknown = []
    for code in _code(page.read_text(encoding="utf-8")):
        for match in COMMAND.finditer(code):
            names = [n.strip() for n in match.group(1).split("|")]
            for name in names:
                if name not in commands:
                    unknown.append(f"dtrain {name}")
            nested = _subcommands(commands[names[0]]) if names[0] in commands else {}
            if nested and match.group(2):
                unknown += [f"dtrain {names[0]} {s}" for s in match.group(2).split("|") if s not in nested]
    assert not unknown, unknown


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_make_target_named_exists(page: Path) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*)\s*:", makefile, re.M))
    named = {m.group(1) for code in _code(page.read_text(encoding="utf-8")) for m in MAKE.finditer(code)}
    assert named <= targets, sorted(named - targets)


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """The checks above would fail on a broken page: a missing file, a missing anchor, an
    unknown command."""
    page = tmp_path / "page.md"
    page.write_text("# Title: `with` code\n\n[ok](#title-with-code) [gone](nowhere.md) [x](#nope)\n")
    assert anchors(page) == {"title-with-code"}
    assert github_anchor("`dtrain emulate up|status|down`") == "dtrain-emulate-upstatusdown"
    found = [m.groups() for m in COMMAND.finditer("$ dtrain submit | status x\ndtrain emulate up|down")]
    assert found == [("submit | status", "x"), ("emulate", "up|down")]
    assert not COMMAND.search("dtrain/emulator/ and dtrain-cifar10 and dtrain.demo")


def _section(page: Path, heading: str) -> str:
    text = page.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_configuration_table_lists_exactly_the_config_keys() -> None:
    """Every key DtrainConfig reads has a row (its default and rule), and no row names a key
    that is gone."""
    table = _section(ROOT / "docs" / "platform-team.md", "Configuration keys")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {key for row in rows for key in re.findall(r"`([a-z0-9_.]+)`", row.split("|")[1])}
    assert documented == set(DEFAULTS), (
        sorted(set(DEFAULTS) - documented),
        sorted(documented - set(DEFAULTS)),
    )
