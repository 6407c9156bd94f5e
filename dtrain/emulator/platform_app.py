"""The platform app as the emulator deploys it: `dtrain emulate up`, the demo and the end-to-end
tests synthesize it here, so all three deploy the same templates."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from dtrain.emulator.synth_cache import cached_synth

# What the emulator's context adds to cdk.json's (as `-c emulator=true -c removal_policy=destroy`).
EMULATOR_CONTEXT: dict[str, Any] = {"emulator": True, "removal_policy": "destroy"}


def synth_for_emulator(
    outdir: Path, context: Mapping[str, Any] | None = None, *, cache: Path | Literal["env"] | None = "env"
) -> Path:
    """The project's app (dtrain.constructs.platform_app, as app.py builds it) with cdk.json's
    context plus `-c emulator=true -c removal_policy=destroy`: the emulator has no bootstrap
    stack, so the bootstrap-version rule is left out. Built from the installed package alone.
    `context`: more `-c` keys under those (`{"teams": {...}}`: a platform with teams).

    An unchanged tree is not synthesized again: the assembly comes from the synth cache
    (dtrain.emulator.synth_cache; `cache`: its directory, "env": DTRAIN_SYNTH_CACHE or
    .dtrain/synth-cache, None: always synthesize)."""
    overrides = {**(context or {}), **EMULATOR_CONTEXT}
    return cached_synth(
        "emulator-platform", {"context": overrides}, lambda out: _synth(out, overrides), outdir, cache=cache
    )


def _synth(outdir: Path, overrides: Mapping[str, Any]) -> Path:
    os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
    from dtrain.constructs import platform_app as cdk_app  # lazy: CDK (jsii)

    context = cdk_app.cdk_json_context(dict(overrides))
    application, _ = cdk_app.build_app(context, outdir=str(outdir))
    return Path(application.synth().directory)
