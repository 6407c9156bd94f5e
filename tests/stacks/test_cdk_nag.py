"""cdk-nag (AwsSolutions, run through CDK's Validations plugin API) on the whole app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtrain.constructs import platform_app as cdk_app
from dtrain.constructs.nag_acknowledgments import execution_role_acknowledgments
from dtrain.constructs.synthesis import SynthesizedApp


def test_the_app_synthesizes_with_zero_unacknowledged_findings(synthesized_app: SynthesizedApp) -> None:
    # app.synth() raises ValidationFailed on any unacknowledged finding; the fixture synthesized it.
    report_file = synthesized_app.outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    failures = [r for r in report["pluginReports"] if r.get("conclusion") != "success"]
    assert failures == []


def test_every_acknowledgment_has_a_reviewable_reason(synthesized_app: SynthesizedApp) -> None:
    for ack in execution_role_acknowledgments(
        synthesized_app.platform.storage.stack_name, synthesized_app.platform.config.job_name_prefix
    ):
        assert ack.id.startswith("AwsSolutions-")
        assert len(ack.reason) >= 80, ack.id


@pytest.mark.slow
def test_each_acknowledgment_matches_a_real_finding_and_nothing_else_is_found(
    synthesized_app: SynthesizedApp, tmp_path: Path
) -> None:
    # Without our acknowledgments the synth must fail with exactly the acknowledged findings:
    # proves cdk-nag runs, and that no acknowledgment is stale or hides more than it says.
    app, platform = cdk_app.build_app(cdk_app.cdk_json_context(), outdir=str(tmp_path), acknowledge=False)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    found = {
        (violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }
    role_policy = f"{platform.training.stack_name}/SageMakerExecutionRole/DefaultPolicy/Resource"
    acknowledged = {
        (a.id, role_policy)
        for a in execution_role_acknowledgments(platform.storage.stack_name, platform.config.job_name_prefix)
    }
    assert found == acknowledged
