"""DtrainPlatform as a CDK user composes it: under an App or a Stage, its four stacks its children
(the default) or at the root of that App or Stage (`stacks_at_root`, as the project's app.py
places them), their CloudFormation names `<stack_prefix>Network`, ... either way, and the CDK
CLI selecting them by construct path as docs/platform-team.md says (`cdk ls` on the assembly).

Slow (one synth of three small platforms, about 30-60 s, plus three CDK CLI starts): the one
test of the construct tree beside the project's own app (tests/conftest.py `synthesized_app`).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from dtrain.constructs.synthesis import SynthesizedApp
from dtrain.node_banners import QUIET_NODE_ENV

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("Network", "Storage", "Training", "Orchestration")
# Small platforms: no images (emulator), no file systems; enough to place and name four stacks.
ZONES = ["eu-west-1a", "eu-west-1b"]
SMALL = {"emulator": True, "fsx.enabled": False, "efs.enabled": False, "network.interface_endpoints": False}


@dataclass(frozen=True)
class Composed:
    outdir: Path
    in_app: object  # DtrainPlatform (the CDK is imported inside the fixture)
    in_stage: object
    at_stage_root: object


@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> Composed:
    from aws_cdk import App, Stage

    from dtrain.config import DtrainConfig
    from dtrain.constructs.platform import DtrainPlatform

    outdir = tmp_path_factory.mktemp("composed")
    app = App(outdir=str(outdir))
    # With an explicit env, its zones come from config (no lookup, no credentials at synth).
    pinned = {"account": "123456789012", "region": "eu-west-1", "network.availability_zones": ZONES}
    ml = DtrainConfig.from_settings({**SMALL, **pinned, "stack_prefix": "Ml"})
    in_app = DtrainPlatform(app, "Ml", config=ml)
    prod = Stage(app, "Prod")
    in_stage = DtrainPlatform(prod, "Ml", config=DtrainConfig.from_settings({**SMALL, "stack_prefix": "Ml"}))
    legacy = Stage(app, "Legacy")
    old = DtrainConfig.from_settings({**SMALL, "stack_prefix": "Old"})
    at_stage_root = DtrainPlatform(legacy, "Old", config=old, stacks_at_root=True)
    app.synth()
    assert "missing" not in json.loads((outdir / "manifest.json").read_text())  # no lookup left to make
    return Composed(outdir=outdir, in_app=in_app, in_stage=in_stage, at_stage_root=at_stage_root)


def _paths_and_names(platform: object) -> list[tuple[str, str]]:
    return [(s.node.path, s.stack_name) for s in platform.stacks]  # type: ignore[attr-defined]


def test_by_default_the_four_stacks_are_its_children_and_keep_their_names(composed: Composed) -> None:
    from aws_cdk import Stack

    assert _paths_and_names(composed.in_app) == [(f"Ml/{part}", f"Ml{part}") for part in PARTS]
    children = [c for c in composed.in_app.node.children if isinstance(c, Stack)]  # type: ignore[attr-defined]
    assert children == list(composed.in_app.stacks)  # type: ignore[attr-defined]
    assert _paths_and_names(composed.in_stage) == [(f"Prod/Ml/{part}", f"Ml{part}") for part in PARTS]
    assert [s.availability_zones for s in composed.in_app.stacks] == [ZONES] * 4  # type: ignore[attr-defined]


def test_at_the_root_the_stacks_sit_in_its_stage_with_their_names_as_ids(composed: Composed) -> None:
    assert _paths_and_names(composed.at_stage_root) == [(f"Legacy/Old{part}", f"Old{part}") for part in PARTS]
    assert composed.at_stage_root.node.path == "Legacy/Old"  # type: ignore[attr-defined]


def test_the_projects_app_keeps_its_stacks_at_the_root(synthesized_app: SynthesizedApp) -> None:
    # Where deployed platforms have them: the paths (and so every template) stay as they were.
    platform = synthesized_app.platform
    assert synthesized_app.app.node.find_child("Dtrain") is platform
    assert _paths_and_names(platform) == [(f"Dtrain{part}", f"Dtrain{part}") for part in PARTS]
    by_name = {s.stack_name: s for s in synthesized_app.assembly.stacks}
    assert {name: s.id for name, s in by_name.items()} == {f"Dtrain{part}": f"Dtrain{part}" for part in PARTS}


def _cdk_ls(outdir: Path, *patterns: str) -> list[str]:
    """The stacks `cdk ls PATTERN` selects from the assembly, as `path (stack name)` lines."""
    env = {**os.environ, **QUIET_NODE_ENV, "CDK_DISABLE_CLI_TELEMETRY": "true"}
    done = subprocess.run(
        ["npx", "--no-install", "cdk", "ls", "--app", str(outdir), *patterns],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return sorted(done.stdout.split())


@pytest.mark.slow
def test_the_cdk_cli_selects_them_by_construct_path_as_the_guide_says(composed: Composed) -> None:
    in_app = [f"Ml/{part}" for part in PARTS] + [f"(Ml{part})" for part in PARTS]
    assert _cdk_ls(composed.outdir, "Ml/*") == sorted(in_app)
    in_stage = [f"Prod/Ml/{part}" for part in PARTS] + [f"(Ml{part})" for part in PARTS]
    assert _cdk_ls(composed.outdir, "Prod/Ml/*") == sorted(in_stage)
    # The CloudFormation name is no selector (the guide says so); at the root, path and name are one.
    # (The network: `ls`, like `deploy` without --exclusively, adds the stacks a stack depends on.)
    assert _cdk_ls(composed.outdir, "MlNetwork") == []
    assert _cdk_ls(composed.outdir, "Legacy/OldNetwork") == ["(OldNetwork)", "Legacy/OldNetwork"]
