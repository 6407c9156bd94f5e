"""The app with teams and guardrails (issue 29): the Deny statements on the Submit role and on the
team's scientists' policy, the limits in the Lambdas' settings, and cdk-nag still clean (the synth
raises on an unacknowledged finding). Slow: one more synth of the whole app (its teams and limits
are what is tested), shared by the module's tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dtrain.constructs.synthesis import SynthesizedApp, synthesize

pytestmark = pytest.mark.slow

TEAMS = {
    "vision": {
        "instance_types": ["ml.g5.xlarge", "ml.g5.12xlarge"],
        "max_instance_count": 2,
        "max_run_seconds": 86400,
        "max_warm_pool_seconds": 600,
        "quota_instances": 2,
    },
    "nlp": {},
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize({"teams": TEAMS}, tmp_path_factory.mktemp("guardrails"))


def _resources(app: SynthesizedApp, kind: str) -> dict[str, Any]:
    return {k: r for k, r in app.template_dicts["orchestration"]["Resources"].items() if r["Type"] == kind}


def test_the_submit_role_holds_visions_denies_and_nothing_for_nlp(app: SynthesizedApp) -> None:
    (guardrails,) = [r for k, r in _resources(app, "AWS::IAM::Policy").items() if "TeamGuardrails" in k]
    statements = guardrails["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in statements] == [
        "TeamVisionInstanceTypes",
        "TeamVisionMaxRun",
        "TeamVisionWarmPool",
    ]
    assert all(s["Effect"] == "Deny" for s in statements)
    assert "dtrain-vision-*" in json.dumps(statements) and "dtrain-nlp" not in json.dumps(statements)
    submit_roles = guardrails["Properties"]["Roles"]
    assert len(submit_roles) == 1 and "SubmitJob" in json.dumps(submit_roles)


def test_visions_scientists_policy_carries_its_limits_on_everything_it_creates(app: SynthesizedApp) -> None:
    policies = _resources(app, "AWS::IAM::ManagedPolicy")
    by_name = {json.dumps(r["Properties"].get("ManagedPolicyName")): r for r in policies.values()}
    vision = next(r for name, r in by_name.items() if "dtrain-vision-scientists" in name)
    nlp = next(r for name, r in by_name.items() if "dtrain-nlp-scientists" in name)
    sids = {s.get("Sid") for s in vision["Properties"]["PolicyDocument"]["Statement"]}
    assert {"TeamVisionInstanceTypes", "TeamVisionMaxRun", "TeamVisionWarmPool"} <= sids
    assert "TeamVision" not in json.dumps(nlp)


def test_the_lambdas_settings_hold_the_teams_limits(app: SynthesizedApp) -> None:
    outputs = app.template_dicts["orchestration"]["Outputs"]
    text = json.dumps(outputs["PlatformSettings"])
    assert '\\"team_guardrails\\":{\\"vision\\":{' in text and "quota_instances" in text
    assert '\\"nlp\\"' not in text.split("team_guardrails")[1]
