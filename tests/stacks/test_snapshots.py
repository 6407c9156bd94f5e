"""One snapshot per platform stack: catches unintended drift (asset hashes masked).

The assertion tests beside this file pin what matters; a snapshot diff only asks "was this
change intended?". Refresh with `.venv/bin/pytest tests/stacks/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

# Asset hashes change with every edit of training_code/ or lambda/: mask them.
ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return ASSET_HASH.sub("<asset-hash>", value)
    return value


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_mask_replaces_asset_hashes_only() -> None:
    digest = "0123456789abcdef" * 4
    assert mask({"a": [f"repo:{digest}", "vpc-0abc"]}) == {"a": ["repo:<asset-hash>", "vpc-0abc"]}


STACKS = ["network", "storage", "training", "orchestration"]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_template_matches_snapshot(
    stack: str, template_dicts: dict[str, dict[str, Any]], json_snapshot: SnapshotAssertion
) -> None:
    assert mask(template_dicts[stack]) == json_snapshot


def test_every_snapshot_file_is_a_stack_of_the_app() -> None:
    # syrupy's own unused-snapshot check is off under pytest-xdist (make test): this keeps a
    # snapshot of a removed or renamed stack from lingering unnoticed.
    folder = Path(__file__).parent / "__snapshots__" / "test_snapshots"
    assert {p.name for p in folder.iterdir()} == {
        f"test_stack_template_matches_snapshot[{s}].json" for s in STACKS
    }
