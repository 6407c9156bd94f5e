"""A team's guardrails held by policy (issue 29): the Deny statements dtrain.constructs.team_guardrails
puts on the Submit role refuse a create past the team's limits in the emulator's policy engine, from
the request's own condition keys, with no check of ours in the way (the request goes to the engine
directly, as a Submit whose own check was bypassed would send it).

Each denial is asserted against the same identity without the statements (Allowed): the Deny is
what refuses it. Another team's job under the same role is not held to this team's limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dtrain.config import TeamConfig
from dtrain.constructs.team_guardrails import (
    CREATE_PROCESSING,
    CREATE_TRAINING,
    CREATE_TRANSFORM,
    guardrail_statements,
)
from dtrain.emulator.authz.calls import Call, checks_for
from dtrain.emulator.authz.engine import PolicyEngine, Request

ACCT = "123456789012"
REGION = "us-east-1"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/submit/s"
VISION = TeamConfig(
    "vision",
    instance_types=("ml.g5.xlarge", "ml.g5.12xlarge"),
    max_instance_count=8,
    max_run_seconds=86400,
    max_warm_pool_seconds=600,
    quota_instances=8,
    spot_required=True,
)
NLP = TeamConfig("nlp")
# What the Submit role is allowed (dtrain.constructs.orchestration.permissions: creates on the
# platform's prefix).
SUBMIT_ALLOW = {
    "Effect": "Allow",
    "Action": [CREATE_TRAINING, CREATE_PROCESSING, CREATE_TRANSFORM, "sagemaker:AddTags"],
    "Resource": [
        f"arn:aws:sagemaker:{REGION}:{ACCT}:training-job/dtrain-*",
        f"arn:aws:sagemaker:{REGION}:{ACCT}:processing-job/dtrain-*",
        f"arn:aws:sagemaker:{REGION}:{ACCT}:transform-job/dtrain-*",
    ],
}


def _arns(team: str) -> dict[str, list[str]]:
    return {
        CREATE_TRAINING: [f"arn:aws:sagemaker:{REGION}:{ACCT}:training-job/dtrain-{team}-*"],
        CREATE_PROCESSING: [f"arn:aws:sagemaker:{REGION}:{ACCT}:processing-job/dtrain-{team}-*"],
        CREATE_TRANSFORM: [f"arn:aws:sagemaker:{REGION}:{ACCT}:transform-job/dtrain-{team}-*"],
    }


def _policy(*teams: TeamConfig) -> dict[str, Any]:
    statements = [s for team in teams for s in guardrail_statements(team, _arns(team.name))]
    return {"Version": "2012-10-17", "Statement": [SUBMIT_ALLOW, *statements]}


WITHOUT = {"Version": "2012-10-17", "Statement": [SUBMIT_ALLOW]}


@pytest.fixture(scope="module")
def engine() -> Iterator[PolicyEngine]:
    eng = PolicyEngine()
    yield eng
    eng.close()


class NoState:
    def key(self, key_id: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


def _training(team: str = "vision", instance_type: str = "ml.g5.xlarge", **extra: Any) -> dict[str, Any]:
    resources: dict[str, Any] = {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30}
    if "keep_alive" in extra:
        resources["KeepAlivePeriodInSeconds"] = extra["keep_alive"]
    return {
        "TrainingJobName": f"dtrain-{team}-job-1",
        "RoleArn": f"arn:aws:iam::{ACCT}:role/dtrain-{team}-execution",
        "ResourceConfig": resources,
        "StoppingCondition": {"MaxRuntimeInSeconds": extra.get("max_run", 3600)},
    }


def _decide(engine: PolicyEngine, policy: dict[str, Any], op: str, params: dict[str, Any]) -> tuple[str, str]:
    """(the engine's result, the Sid of the statement the engine says denied it, if one did)."""
    (check, *_) = checks_for(NoState(), Call("sagemaker", op, params, REGION, ACCT))  # type: ignore[arg-type]
    context = (("aws:PrincipalArn", f"arn:aws:iam::{ACCT}:role/submit"), ("aws:PrincipalAccount", ACCT))
    request = Request(SESSION, check.action, check.resource, ACCT, (*context, *check.context))
    decision = engine.decide(request, [("submit", policy)])
    denied_by = next(
        (str(r.get("statementId")) for r in decision.reasons if r.get("denialType") == "Explicit"), ""
    )
    return decision.result, denied_by


CASES = [
    ("p5 instance type", _training(instance_type="ml.p5.48xlarge"), "TeamVisionInstanceTypes"),
    ("28 days", _training(max_run=28 * 86400), "TeamVisionMaxRun"),
    ("1 h warm pool", _training(keep_alive=3600), "TeamVisionWarmPool"),
]


@pytest.mark.parametrize(("what", "params", "sid"), CASES, ids=[c[0] for c in CASES])
def test_a_create_past_a_guardrail_is_denied_by_its_statement_and_allowed_without_it(
    engine: PolicyEngine, what: str, params: dict[str, Any], sid: str
) -> None:
    assert _decide(engine, _policy(VISION, NLP), "CreateTrainingJob", params) == ("ExplicitlyDenied", sid)
    assert _decide(engine, WITHOUT, "CreateTrainingJob", params)[0] == "Allowed"


def test_a_create_within_every_limit_is_allowed(engine: PolicyEngine) -> None:
    within = _training(instance_type="ml.g5.12xlarge", max_run=86400, keep_alive=600)
    assert _decide(engine, _policy(VISION, NLP), "CreateTrainingJob", within)[0] == "Allowed"


def test_another_teams_job_is_not_held_to_this_teams_limits(engine: PolicyEngine) -> None:
    """The statements name the team's job ARNs: team nlp (no limits) runs a p5 under the same
    Submit role."""
    p5 = _training(team="nlp", instance_type="ml.p5.48xlarge", max_run=28 * 86400)
    assert _decide(engine, _policy(VISION, NLP), "CreateTrainingJob", p5)[0] == "Allowed"


def test_a_processing_job_is_held_to_the_instance_types(engine: PolicyEngine) -> None:
    processing = {
        "ProcessingJobName": "dtrain-vision-prep-1",
        "RoleArn": f"arn:aws:iam::{ACCT}:role/dtrain-vision-execution",
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "AppSpecification": {"ImageUri": "x"},
    }
    assert _decide(engine, _policy(VISION), "CreateProcessingJob", processing) == (
        "ExplicitlyDenied",
        "TeamVisionInstanceTypes",
    )


def test_a_transform_job_is_held_to_the_instance_types(engine: PolicyEngine) -> None:
    """CreateTransformJob carries sagemaker:InstanceTypes (TransformResources.InstanceType): the
    team's list holds it; within the list, or without the statements, it is allowed."""

    def transform(instance_type: str) -> dict[str, Any]:
        return {
            "TransformJobName": "dtrain-vision-transform-1",
            "ModelName": "dtrain-vision-model-1",
            "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
        }

    p5 = transform("ml.p5.48xlarge")
    assert _decide(engine, _policy(VISION), "CreateTransformJob", p5) == (
        "ExplicitlyDenied",
        "TeamVisionInstanceTypes",
    )
    assert _decide(engine, WITHOUT, "CreateTransformJob", p5)[0] == "Allowed"
    assert _decide(engine, _policy(VISION), "CreateTransformJob", transform("ml.g5.xlarge"))[0] == "Allowed"


def test_a_team_without_limits_adds_no_statement() -> None:
    assert guardrail_statements(NLP, _arns("nlp")) == []
    assert guardrail_statements(TeamConfig.default()) == []
    # Count, quota and spot have no SageMaker condition key: only the three limits IAM can hold.
    assert [s["Sid"] for s in guardrail_statements(VISION)] == [
        "TeamVisionInstanceTypes",
        "TeamVisionMaxRun",
        "TeamVisionWarmPool",
    ]
    assert all(s["Resource"] == ["*"] for s in guardrail_statements(VISION))
