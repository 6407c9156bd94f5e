"""cfn-lint on every synthesized template: zero errors."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_cfn_lint_reports_no_errors_on_any_template(template_files: dict[str, Path]) -> None:
    # Imported here, not at the top: cfn-lint takes ~2 CPU-s to import, and every pytest-xdist
    # worker imports every test module to collect it, while one worker runs this test.
    from cfnlint.api import ManualArgs, lint_file

    assert {"network", "storage", "training"} <= set(template_files)
    config = ManualArgs(regions=["us-east-1", "eu-west-1"])
    problems = {}
    for name, path in sorted(template_files.items()):
        errors = [m for m in lint_file(path, config=config) if m.rule.id.startswith("E")]
        if errors:
            problems[name] = [f"{m.rule.id} {m.path_string}: {m.message}" for m in errors]
    assert problems == {}
