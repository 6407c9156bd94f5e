"""The project's whole CDK app deployed into the emulator with its real templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator.apps import synth_full_app


@pytest.mark.slow
def test_every_stack_of_the_app_is_created_and_gaps_are_listed(tmp_path: Path) -> None:
    assembly = synth_full_app(tmp_path / "cdk.out")
    with Emulator(assembly, announce=False, orchestration_stack="") as emu:
        assert emu.deployment is not None
        stacks = emu.deployment.stacks
        assert stacks and {s.status for s in stacks.values()} == {"CREATE_COMPLETE"}
        gaps = emu.deployment.not_modelled()
        # FSx cannot be created by moto: it must be listed, not silently dropped.
        assert any("AWS::FSx::FileSystem" in g for g in gaps), gaps
        assert all(s.resource_count > 0 for s in stacks.values())
