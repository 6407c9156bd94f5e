"""checkov on the synthesized templates: every failed check is in checkov-baseline.yaml, with a reason."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
BASELINE = ROOT / "checkov-baseline.yaml"


def load_baseline() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(BASELINE.read_text())
    return entries


def test_baseline_entries_are_justified() -> None:
    for entry in load_baseline():
        assert set(entry) == {"check", "resources", "reason"}, entry
        assert entry["resources"], entry["check"]
        assert len(entry["reason"]) >= 60, entry["check"]


def run_checkov(files: list[Path]) -> list[dict[str, Any]]:
    args = [
        str(CHECKOV),
        "--skip-download",
        "--framework",
        "cloudformation",
        "--quiet",
        "--compact",
        "-o",
        "json",
    ]
    for file in files:
        args += ["-f", str(file)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert result.stdout.strip(), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    failed: list[dict[str, Any]] = []
    for report in reports if isinstance(reports, list) else [reports]:
        if "results" in report:
            assert report["summary"]["parsing_errors"] == 0
            failed += report["results"]["failed_checks"]
    return failed


@pytest.mark.slow
def test_checkov_has_no_failed_checks_outside_the_baseline(template_files: dict[str, Path]) -> None:
    assert CHECKOV.exists(), "make test installs checkov into .venv-tools from requirements-tools.txt"
    by_file = {path.name: name for name, path in template_files.items()}
    failed = run_checkov(sorted(template_files.values()))
    baseline = load_baseline()
    used: set[tuple[str, str]] = set()
    unexplained = []
    for check in failed:
        stack = by_file[Path(check["file_path"]).name]
        logical_id = check["resource"].split(".", 1)[1]
        matches = [
            (entry["check"], pattern)
            for entry in baseline
            if entry["check"] == check["check_id"]
            for pattern in entry["resources"]
            if f"{stack}:{logical_id}".startswith(pattern)
        ]
        if matches:
            used.update(matches)
        else:
            unexplained.append(f"{check['check_id']} {stack}:{logical_id} {check['check_name']}")
    assert unexplained == []
    stale = {(e["check"], p) for e in baseline for p in e["resources"]} - used
    assert stale == set()
