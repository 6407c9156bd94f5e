"""The app with teams and guardrails (issue 29): the Deny statements on the Submit role and on the
team's scientists' policy, the limits in the Lambdas' settings, and cdk-nag still clean (the synth
raises on an unacknowledged finding). Slow: one more synth of the whole app (its teams and limits
are what is tested), shared by the module's tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dtrain.constructs.synthesis import SynthesizedApp, synthesize

# On the worker that synthesizes the session's app (tests/conftest.py's "cdk-app" group): its CDK
# runtime is started and warm there, where another worker would start one for this synth alone.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cdk-app")]

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
    # Only vision's Submit (each team has its own) holds vision's limits.
    assert len(submit_roles) == 1 and "TeamVisionSubmitJob" in json.dumps(submit_roles)


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


def _role_statements(app: SynthesizedApp, role_prefix: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to the role whose logical id starts so."""
    statements = []
    for policy in _resources(app, "AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if f'"{role_prefix}' in roles:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_each_team_has_its_own_submit_whose_role_reaches_only_the_team_s_resources(
    app: SynthesizedApp,
) -> None:
    """Submit acts on a scientist's spec: each team's runs under its own role, whose SageMaker,
    repack and PassRole statements name the team's `dtrain-<team>-*` resources, its output prefix
    and its execution role only, and each team's state machine may invoke only its own Submit."""
    functions = _resources(app, "AWS::Lambda::Function")
    submits = sorted(k.split("SubmitJob")[0] for k in functions if "SubmitJob" in k)
    assert submits == ["TeamNlp", "TeamVision"], submits  # one per team, no shared one
    for team, other in (("vision", "nlp"), ("nlp", "vision")):
        head = f"Team{team.capitalize()}SubmitJobRole"
        text = json.dumps(_role_statements(app, head))
        assert f"endpoint/dtrain-{team}-*" in text and f"model/dtrain-{team}-*" in text
        assert f"training-job/dtrain-{team}-*" in text and f"teams/{team}/jobs/dtrain-{team}-*" in text
        assert f"teams/{team}/*/source/inference/" in text  # the code it repacks, its team's only
        # Nothing of the other team's: names, prefixes, its state machine (tokens) or its role.
        assert f"dtrain-{other}" not in text and f"teams/{other}/" not in text
        assert f"Team{other.capitalize()}" not in text
        assert "states:SendTaskSuccess" in text
        # No platform-wide SageMaker name: every sagemaker ARN is the team's (experiments aside).
        assert "endpoint/dtrain-*" not in text and "training-job/dtrain-*" not in text
        (machine,) = [
            r
            for r in _resources(app, "AWS::StepFunctions::StateMachine").values()
            if f"dtrain-{team}" == r["Properties"].get("StateMachineName")
        ]
        role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        invokes = [s for s in _role_statements(app, role) if "lambda:InvokeFunction" in json.dumps(s)]
        invoked = json.dumps(invokes)
        assert f"Team{team.capitalize()}SubmitJob" in invoked
        assert f"Team{other.capitalize()}SubmitJob" not in invoked


def test_the_dashboard_has_a_row_of_executions_per_team(app: SynthesizedApp) -> None:
    """Each team's state machine on the dashboard (it showed the first team's only)."""
    (dashboard,) = _resources(app, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    machines = {
        r["Properties"]["StateMachineName"]: k
        for k, r in _resources(app, "AWS::StepFunctions::StateMachine").items()
    }
    for team in ("vision", "nlp"):
        assert (
            f"Executions: team {team}" in body and f"Execution duration (job durations): team {team}" in body
        )
        assert machines[f"dtrain-{team}"] in body  # its metrics name its own state machine
