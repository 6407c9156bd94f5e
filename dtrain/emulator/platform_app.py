"""The platform app as the emulator deploys it: `dtrain emulate up`, the demo and the end-to-end
tests synthesize it here, so all three deploy the same templates."""

from __future__ import annotations

import os
from pathlib import Path


def synth_for_emulator(outdir: Path) -> Path:
    """The project's app (dtrain.constructs.platform_app, as app.py builds it) with cdk.json's
    context plus `-c emulator=true -c removal_policy=destroy`: the emulator has no bootstrap
    stack, so the bootstrap-version rule is left out. Built from the installed package alone."""
    os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
    from dtrain.constructs import platform_app as cdk_app  # lazy: CDK (jsii)

    context = cdk_app.cdk_json_context({"emulator": True, "removal_policy": "destroy"})
    application, _ = cdk_app.build_app(context, outdir=str(outdir))
    return Path(application.synth().directory)
