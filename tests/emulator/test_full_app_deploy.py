"""The project's whole CDK app deployed into the emulator with its real templates: the session's
one synthesis of it (`synthesized_app`, cdk.json's context, the default synthesizer, whose
bootstrap-version check the emulator answers), not a synthesis of its own of the same app."""

from __future__ import annotations

import pytest

from dtrain.constructs.synthesis import SynthesizedApp
from dtrain.emulator import Emulator


@pytest.mark.slow
def test_every_stack_of_the_app_is_created_and_gaps_are_listed(synthesized_app: SynthesizedApp) -> None:
    with Emulator(synthesized_app.outdir, announce=False, orchestration_stack="") as emu:
        assert emu.deployment is not None
        stacks = emu.deployment.stacks
        assert stacks and {s.status for s in stacks.values()} == {"CREATE_COMPLETE"}
        gaps = emu.deployment.not_modelled()
        # FSx cannot be created by moto: it must be listed, not silently dropped.
        assert any("AWS::FSx::FileSystem" in g for g in gaps), gaps
        assert all(s.resource_count > 0 for s in stacks.values())
