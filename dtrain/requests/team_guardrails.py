"""A team's guardrails checked on the requests an execution makes, before anything is sent.

`dtrain validate --platform`, `dtrain submit` and the Submit Lambda's Prepare refuse a training or
processing request past the team's limits (dtrain.jobspec.team_limits), and a transform job past
its instance types, with one line naming the spec's field, its value and the rule
(`estimator.instance_count: 64: team vision's jobs may use at most 8 instances
(teams.vision.max_instance_count)`). The check reads the built request, as IAM reads it (the
team's Deny statements on sagemaker:InstanceTypes, sagemaker:MaxRuntimeInSeconds and
sagemaker:KeepAlivePeriod: dtrain.constructs.team_guardrails): what a sweep item's overrides or the
SDK's defaults (max_run: one day) made of the spec is what is judged. Instance counts and spot have
no SageMaker condition key, so this check (and the team's quota wait) is all that holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dtrain.jobspec.errors import SpecError
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.team_limits import TeamLimits

TRAINING = "CreateTrainingJob"
PROCESSING = "CreateProcessingJob"
TRANSFORM = "CreateTransformJob"


def _training_fields(request: Mapping[str, Any]) -> dict[str, Any]:
    resources = request.get("ResourceConfig") or {}
    groups = resources.get("InstanceGroups") or []
    if groups:
        types = [
            (f"estimator.instance_groups[{i}].instance_type", g.get("InstanceType"))
            for i, g in enumerate(groups)
        ]
        count = ("estimator.instance_groups", sum(int(g.get("InstanceCount") or 0) for g in groups))
    else:
        types = [("estimator.instance_type", resources.get("InstanceType"))]
        count = ("estimator.instance_count", int(resources.get("InstanceCount") or 0))
    return {
        "types": types,
        "count": count,
        "max_run": ("estimator.max_run", (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")),
        "warm_pool": ("estimator.keep_alive_period_in_seconds", resources.get("KeepAlivePeriodInSeconds")),
        "spot": ("estimator.use_spot_instances", bool(request.get("EnableManagedSpotTraining"))),
    }


def _processing_fields(request: Mapping[str, Any]) -> dict[str, Any]:
    cluster = (request.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    return {
        "types": [("processing.processor.instance_type", cluster.get("InstanceType"))],
        "count": ("processing.processor.instance_count", int(cluster.get("InstanceCount") or 0)),
        "max_run": (
            "processing.processor.max_runtime_in_seconds",
            (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
        ),
    }


def _transform_fields(request: Mapping[str, Any]) -> dict[str, Any]:
    """A transform job is held to the team's instance types only: IAM can hold that
    (sagemaker:InstanceTypes on CreateTransformJob); its instances are not counted in the team's
    quota and it has no run-time key."""
    resources = request.get("TransformResources") or {}
    return {"types": [("transform.instance_type", resources.get("InstanceType"))]}


def request_guardrail_problems(
    operation: str, request: Mapping[str, Any], *, team: str, limits: TeamLimits
) -> list[SpecError]:
    """What `request` asks beyond `team`'s limits, one SpecError each; [] for other operations."""
    if operation == TRAINING:
        found = _training_fields(request)
    elif operation == PROCESSING:
        found = _processing_fields(request)
    elif operation == TRANSFORM:
        found = _transform_fields(request)
    else:
        # Endpoints: their instances serve, they are not the team's training capacity, and a
        # team's training allow-list would refuse the usual inference types (docs/platform-team.md).
        return []
    key = f"teams.{team}"
    problems: list[SpecError] = []
    if limits.instance_types:
        allowed = ", ".join(limits.instance_types)
        for field, instance_type in found["types"]:
            if instance_type not in limits.instance_types:
                rule = f"team {team} may use only {allowed} ({key}.instance_types)"
                problems.append(SpecError(field, instance_type, rule))
    if "count" not in found:  # a transform job: instance types only
        return problems
    field, count = found["count"]
    if limits.max_instance_count is not None and count > limits.max_instance_count:
        most = limits.max_instance_count
        rule = f"team {team}'s jobs may use at most {most} instances ({key}.max_instance_count)"
        problems.append(SpecError(field, count, rule))
    quota = limits.quota_instances
    if (
        quota is not None
        and count > quota
        and (limits.max_instance_count is None or count <= limits.max_instance_count)
    ):
        # Held at once by the team's running jobs (dtrain.orchestration.team_capacity): more waits,
        # but a job larger than the whole quota would wait forever.
        rule = f"team {team}'s quota is {quota} instances at once: a job this size could never start"
        rule += f" ({key}.quota_instances)"
        problems.append(SpecError(field, count, rule))
    field, max_run = found["max_run"]
    if limits.max_run_seconds is not None and max_run is not None and int(max_run) > limits.max_run_seconds:
        rule = f"team {team}'s jobs may run at most {limits.max_run_seconds} s ({key}.max_run_seconds)"
        problems.append(SpecError(field, max_run, rule))
    if "warm_pool" in found:
        field, keep_alive = found["warm_pool"]
        ceiling = limits.max_warm_pool_seconds
        if ceiling is not None and keep_alive is not None and int(keep_alive) > ceiling:
            allowance = f"may keep a warm pool at most {ceiling} s" if ceiling else "may not keep a warm pool"
            rule = f"team {team} {allowance} ({key}.max_warm_pool_seconds)"
            problems.append(SpecError(field, keep_alive, rule))
    if "spot" in found and limits.spot_required:
        field, spot = found["spot"]
        if not spot:
            rule = f"team {team}'s training jobs must use managed spot training ({key}.spot_required)"
            problems.append(SpecError(field, spot, rule))
    return problems


def guardrail_problems(
    requests: list[tuple[str, str, Mapping[str, Any]]], platform: PlatformSettings
) -> list[SpecError]:
    """Every problem of (operation, label, request) triples, each line once: a sweep's items
    differ only in hyperparameters, so they share their instances and limits, and one line."""
    limits = platform.guardrails
    if not limits.any:
        return []
    found: dict[str, SpecError] = {}
    for operation, _label, request in requests:
        for problem in request_guardrail_problems(operation, request, team=platform.team, limits=limits):
            found.setdefault(str(problem), problem)
    return list(found.values())
