"""Synthesize the whole app into a directory and index its templates by short stack name.

Shared by the test fixtures (tests/conftest.py) and anything else that needs the synthesized
templates in-process without the CDK CLI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, cx_api
from aws_cdk.assertions import Template

from dtrain.constructs import platform_app as cdk_app
from dtrain.constructs.platform import DtrainPlatform


@dataclass(frozen=True)
class SynthesizedApp:
    app: App
    platform: DtrainPlatform
    assembly: cx_api.CloudAssembly
    outdir: Path
    templates: dict[str, Template]
    template_files: dict[str, Path]
    template_dicts: dict[str, dict[str, Any]]


def short_name(stack_id: str, prefix: str) -> str:
    return (stack_id[len(prefix) :] if stack_id.startswith(prefix) else stack_id).lower()


def synthesize(context_overrides: Mapping[str, Any] | None, outdir: Path) -> SynthesizedApp:
    """Build and synthesize the app with cdk.json context plus overrides into `outdir`."""
    app, platform = cdk_app.build_app(cdk_app.cdk_json_context(context_overrides), outdir=str(outdir))
    assembly = app.synth()
    prefix = platform.config.stack_prefix
    files: dict[str, Path] = {}
    dicts: dict[str, dict[str, Any]] = {}
    for stack in assembly.stacks:
        name = short_name(stack.stack_name, prefix)
        files[name] = Path(stack.template_full_path)
        dicts[name] = json.loads(files[name].read_text())
    return SynthesizedApp(
        app=app,
        platform=platform,
        assembly=assembly,
        outdir=outdir,
        # from_json on the written template: Template.from_stack would synthesize again.
        templates={name: Template.from_json(d) for name, d in dicts.items()},
        template_files=files,
        template_dicts=dicts,
    )
