"""dtrain.constructs.team_guardrails in a stack: one TeamGuardrails policy on the Submit role, each
team's statements scoped to its job ARNs, the scientists' policies given the same limits on "*",
and nothing at all when no team has a limit IAM can hold (the templates of a platform without
teams do not change)."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from dtrain.config import TeamConfig
from dtrain.constructs.team_guardrails import add_team_guardrails

VISION = TeamConfig("vision", instance_types=("ml.g5.xlarge",), max_run_seconds=3600, quota_instances=4)


def _stack(*teams: TeamConfig) -> tuple[Stack, Any, dict[str, iam.ManagedPolicy]]:
    stack = Stack(App(), "Guardrails", env={"account": "123456789012", "region": "eu-west-1"})
    role = iam.Role(stack, "Submit", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    policies = {t.name: iam.ManagedPolicy(stack, f"Scientists{t.name}", statements=[]) for t in teams}
    for policy in policies.values():  # a managed policy needs one statement to synthesize
        policy.add_statements(iam.PolicyStatement(actions=["states:ListExecutions"], resources=["*"]))
    added = add_team_guardrails(
        stack,
        submit_roles={t.name: role for t in teams},
        teams=teams,
        job_name_prefix="dtrain",
        scientists_policies=policies,
    )
    return stack, added, policies


def test_the_submit_role_gets_each_teams_denies_on_its_own_job_arns() -> None:
    stack, added, _ = _stack(VISION, TeamConfig("nlp"))
    assert added is not None
    template = Template.from_stack(stack).to_json()
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {"TeamVisionInstanceTypes", "TeamVisionMaxRun"}  # nlp: no limits
    arn = ["arn:", {"Ref": "AWS::Partition"}, ":sagemaker:eu-west-1:123456789012:{}/dtrain-vision-*"]
    assert statements["TeamVisionMaxRun"]["Resource"] == [
        {"Fn::Join": ["", [*arn[:2], arn[2].format(kind)]]} for kind in ("training-job", "processing-job")
    ]
    assert statements["TeamVisionMaxRun"]["Condition"] == {
        "NumericGreaterThan": {"sagemaker:MaxRuntimeInSeconds": "3600"}
    }
    scientists = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    sids = {s.get("Sid") for r in scientists for s in r["Properties"]["PolicyDocument"]["Statement"]}
    assert {"TeamVisionInstanceTypes", "TeamVisionMaxRun"} <= sids


def test_no_limit_adds_nothing() -> None:
    stack, added, _ = _stack(TeamConfig.default())
    assert added is None
    assert not Template.from_stack(stack).find_resources("AWS::IAM::Policy")
