"""A team's guardrails held by IAM: Deny statements on SageMaker's request condition keys.

`dtrain validate`, `submit` and Prepare refuse a job past the team's limits first
(dtrain.requests.team_guardrails); these statements make AWS refuse the create itself, whoever
calls it, so a request that bypasses our checks (a StartExecution by hand, a bug in Submit, a
scientist calling CreateTrainingJob with their own credentials) still fails with AccessDenied.

Which keys exist is the Service Authorization Reference's "Actions, resources, and condition keys
for Amazon SageMaker AI" (https://docs.aws.amazon.com/service-authorization/latest/reference/
list_amazonsagemaker.html): CreateTrainingJob supports sagemaker:InstanceTypes (ArrayOfString, "the
list of all instance types associated with the resource in the request"),
sagemaker:MaxRuntimeInSeconds (Numeric) and sagemaker:KeepAlivePeriod (Numeric);
CreateProcessingJob the first two; CreateTransformJob (and CreateEndpointConfig, not held here)
sagemaker:InstanceTypes. There is no key for an instance count or for managed spot
training: `max_instance_count`, `spot_required` and `quota_instances` are held by our checks and
the team's quota wait only (docs/platform-team.md says so).

Where they go:
- the Submit Lambdas' roles (one per team: a team's Submit may create only its team's jobs), one
  statement per limit and team, scoped to the team's job ARNs `training-job/<prefix>-<team>-*`
  (dtrain.team_names), so a team's limits never hold another team's jobs;
- each team's scientists' managed policy (when the platform has one per team), Resource "*": what
  those principals create by any name is held to their team's limits.
A team without limits (the implicit default team of a platform without teams) adds nothing, so
the templates of such a platform do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from dtrain import team_names
from dtrain.config import TeamConfig

CREATE_TRAINING = "sagemaker:CreateTrainingJob"
CREATE_PROCESSING = "sagemaker:CreateProcessingJob"
CREATE_TRANSFORM = "sagemaker:CreateTransformJob"
# The job ARNs each create is authorized against (the reference's resource type per action).
_RESOURCE_TYPES = {
    CREATE_TRAINING: "training-job",
    CREATE_PROCESSING: "processing-job",
    CREATE_TRANSFORM: "transform-job",
}


def _sid(team: TeamConfig, what: str) -> str:
    return f"Team{team.name.capitalize()}{what}"


def guardrail_statements(
    team: TeamConfig, resources: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """The team's Deny statements as policy JSON, one per limit it sets ([] for none).

    `resources`: the ARNs each action's statement names (CREATE_TRAINING -> [...]); None: "*"
    (a scientists' policy: whatever those principals create)."""

    def deny(sid: str, actions: list[str], condition: dict[str, Any]) -> dict[str, Any]:
        arns = list(dict.fromkeys(arn for a in actions for arn in resources[a])) if resources else ["*"]
        return {
            "Sid": _sid(team, sid),
            "Effect": "Deny",
            "Action": actions,
            "Resource": arns,
            "Condition": condition,
        }

    both = [CREATE_TRAINING, CREATE_PROCESSING]
    out: list[dict[str, Any]] = []
    if team.instance_types:
        # Transform jobs too: batch compute the team runs, and CreateTransformJob carries
        # sagemaker:InstanceTypes (TransformResources.InstanceType). Endpoint configs are left
        # out on purpose: hosting instances are not the team's training capacity, and the
        # training allow-list would refuse the usual inference types (docs/platform-team.md).
        # ForAnyValue: denied when any type of the request (every instance group's) is not one of
        # the team's. A request always carries at least one type, so the key is never absent.
        condition: dict[str, Any] = {
            "ForAnyValue:StringNotEquals": {"sagemaker:InstanceTypes": list(team.instance_types)}
        }
        out.append(deny("InstanceTypes", [*both, CREATE_TRANSFORM], condition))
    if team.max_run_seconds is not None:
        # StoppingCondition is required by both creates, so the key is always present.
        condition = {"NumericGreaterThan": {"sagemaker:MaxRuntimeInSeconds": str(team.max_run_seconds)}}
        out.append(deny("MaxRun", both, condition))
    if team.max_warm_pool_seconds is not None:
        # Absent without a warm pool: NumericGreaterThan on a missing key does not match.
        condition = {"NumericGreaterThan": {"sagemaker:KeepAlivePeriod": str(team.max_warm_pool_seconds)}}
        out.append(deny("WarmPool", [CREATE_TRAINING], condition))
    return out


def team_job_arns(stack: Stack, job_name_prefix: str, team: TeamConfig) -> dict[str, list[str]]:
    """The team's job ARNs per create action: `<type>/<prefix>-<team>-*` (the implicit team's
    `<prefix>-*`). SageMaker writes names lower-cased into ARNs; the prefix is lower case."""
    prefix = team_names.resource_prefix(job_name_prefix, None if team.implicit else team.name)
    return {
        action: [stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{prefix}-*")]
        for action, kind in _RESOURCE_TYPES.items()
    }


def add_team_guardrails(
    scope: Construct,
    *,
    submit_roles: Mapping[str, iam.IRole],
    teams: Sequence[TeamConfig],
    job_name_prefix: str,
    scientists_policies: Mapping[str, iam.ManagedPolicy] | None = None,
) -> iam.Policy | None:
    """Every team's Deny statements on the Submit roles (one `TeamGuardrails` policy, scoped per
    team, attached to the Submit role of each team that has a limit: `submit_roles` maps a team's
    name to its Submit's role) and on each team's scientists' policy; None, and nothing added,
    when no team has a limit IAM can hold."""
    stack = Stack.of(scope)
    statements: list[dict[str, Any]] = []
    limited: list[str] = []
    for team in teams:
        own = guardrail_statements(team, team_job_arns(stack, job_name_prefix, team))
        statements += own
        limited += [team.name] if own else []
        policy = (scientists_policies or {}).get(team.name)
        if policy is not None:
            for statement in guardrail_statements(team):
                policy.add_statements(iam.PolicyStatement.from_json(statement))
    if not statements:
        return None
    missing = [name for name in limited if name not in submit_roles]
    if missing:  # a Function always has a role unless it was imported
        raise ValueError(f"no Submit role to hold the guardrails of team(s) {', '.join(missing)}")
    guardrails = iam.Policy(
        scope,
        "TeamGuardrails",
        document=iam.PolicyDocument.from_json({"Version": "2012-10-17", "Statement": statements}),
    )
    for name in limited:
        guardrails.attach_to_role(submit_roles[name])
    return guardrails
