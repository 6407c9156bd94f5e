"""The project's own CDK app, built from the library: config from context -> stacks -> cdk-nag.

app.py (run by `cdk synth`), the emulator (`dtrain emulate up`, `dtrain demo`), the tests and the
synth benchmark call `build_app()` with `cdk_json_context()`, so they synthesize exactly what the
CLI does. The default context is cdk.json's, carried in the package (dtrain.package_data).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from dtrain.config import ConfigErrors, DtrainConfig
from dtrain.constructs.platform import DtrainPlatform
from dtrain.package_data import cdk_json


def cdk_json_context(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context the CDK CLI would pass: cdk.json's, then `-c`-style overrides on top."""
    context = dict(json.loads(cdk_json().read_text())["context"])
    context.update(overrides or {})
    return context


def build_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None, acknowledge: bool = True
) -> tuple[App, DtrainPlatform]:
    """Build the whole app. `context=None` means "run by the CDK CLI" (it passes cdk.json + -c).

    The platform construct's id is its `stack_prefix`; its stacks sit at the app's root, with the
    paths and names `DtrainNetwork`, ... they had before it existed. `acknowledge=False` leaves
    out the cdk-nag acknowledgments: the test suite uses it to prove that every acknowledgment
    still matches a real finding."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    config = DtrainConfig.from_context(app.node.get_all_context())
    # At the root, where the deployed platforms have their stacks: moving them under the construct
    # would change templates (dtrain.constructs.platform says what and why).
    platform = DtrainPlatform(
        app, config.stack_prefix, config=config, acknowledge=acknowledge, stacks_at_root=True
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, platform


def main() -> int:
    try:
        app, _ = build_app()
    except ConfigErrors as errors:
        print(errors, file=sys.stderr)
        return 1
    app.synth()
    return 0
