"""docs/jobspec-reference.md is generated from the argument tables the parser reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtrain.jobspec import reference
from dtrain.jobspec.channels import S3_CHANNEL_TABLE
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.estimator_args import ARGS
from dtrain.jobspec.inference_spec import DEPLOY_TABLE, TRANSFORM_TABLE
from dtrain.jobspec.processing_spec import TABLES as PROCESSING_TABLES
from dtrain.jobspec.sweep_spec import OBJECTIVE_TABLE, SWEEP_TABLE
from dtrain.jobspec.values import Table

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "jobspec-reference.md"
TABLES = (*PROCESSING_TABLES, DEPLOY_TABLE, TRANSFORM_TABLE, SWEEP_TABLE, OBJECTIVE_TABLE, S3_CHANNEL_TABLE)


def test_the_committed_reference_is_what_the_tables_generate() -> None:
    regenerate = "python -m dtrain.jobspec.reference > docs/jobspec-reference.md"
    assert REFERENCE.read_text(encoding="utf-8") == reference.render(), f"stale: run `{regenerate}`"


def test_every_argument_of_every_table_has_a_row() -> None:
    text = reference.render()
    for arg in ARGS:
        assert f"| `{arg.name}` |" in text
    for table in TABLES:
        section = text[text.index(f" {table.title}\n") :]
        for name, entry in table.args.items():
            row = next(line for line in section.splitlines() if line.startswith(f"| `{name}` |"))
            assert ("refused" in row) == isinstance(entry, str), row


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.title)
def test_a_refused_key_is_refused_with_its_reason_and_an_unknown_one_named(table: Table) -> None:
    refused = [name for name, entry in table.args.items() if isinstance(entry, str)]
    data = {**{name: 1 for name in refused}, "no_such_argument": 1}
    errors = ErrorCollector()
    table.read("block", data, errors)
    rules = {e.field: e.rule for e in errors.errors}
    for name in refused:
        assert rules[f"block.{name}"] == f"refused: {table.args[name]}"
    assert rules["block.no_such_argument"].startswith("unknown key; ")
    assert all(rules.get(f"block.{key}") == "required" for key in table.required)


@pytest.mark.parametrize("table", [t for t, _ in reference.NESTED_ESTIMATOR_TABLES], ids=lambda t: t.title)
def test_each_nested_estimator_table_has_a_section_of_its_own(table: Table) -> None:
    """instance_groups[], metric_definitions[] and tensorboard_output_config: one row per key,
    under their own heading, each value described by its kind."""
    text = reference.render()
    section = text[text.index(f"### {table.title}\n") :].split("\n### ", 1)[0]
    for name, entry in table.args.items():
        assert not isinstance(entry, str)
        row = next(line for line in section.splitlines() if line.startswith(f"| `{name}` |"))
        assert entry.describe().split("`")[0] in row, row
