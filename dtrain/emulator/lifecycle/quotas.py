"""SageMaker's account quotas on instances, as CreateTrainingJob & co. enforce them.

SageMaker counts the instances its running resources hold, per instance type and per use
("ml.p3.2xlarge for training job usage", "... for processing job usage", "... for transform
job usage", "... for endpoint usage"), and across all jobs of a kind ("Number of instances
across all training jobs", "... processing jobs", "... transform jobs"). A Create* whose
instances would pass a quota is refused with ResourceLimitExceeded, worded as the service
words it:

    The account-level service limit 'ml.p3.8xlarge for training job usage' is 2 Instances, with
    current utilization of 3 Instances and a request delta of 1 Instances. Please contact AWS
    support to request an increase for this limit.

(quoted in https://github.com/aws/amazon-sagemaker-examples/issues/1543 and, for the
across-all form, https://github.com/data-science-on-aws/data-science-on-aws/issues/200).

Defaults. The applied value of a per-type quota differs by account, Region and instance type
(new accounts often start at 0 for GPU types: aws/amazon-sagemaker-examples#593); the
emulator's account is one whose instance quotas were raised (no limit) unless a test sets one.

How many jobs run at once. SageMaker's Service Quotas name no count of concurrent training,
processing or transform jobs: a public dump of the SageMaker quota names (1,537, November 2025)
has concurrent counts only for AutoML jobs, tuning jobs, pipeline executions and the like. What
bounds concurrent jobs is the across-all instance quotas above (quota codes L-00C91CB5 training,
L-F311B08F processing, L-60D2A6F0 transform; the training one is 4 in a new account,
awsdocs/amazon-sagemaker-developer-guide#70), since a job holds at least one instance. A test
bounds concurrent jobs with them: `set(ALL_TRAINING, 2)` lets two one-instance jobs run at once.
Warm pools are the exception with a documented default: "The default resource limit for warm
pools is 0", and a job asking for one without quota simply gets no pool, no error
(https://docs.aws.amazon.com/sagemaker/latest/dg/train-warm-pools-resource-limits.html).

A test sets a quota by its AWS name:

    emu.lifecycle.quotas.set("ml.m5.xlarge for training job usage", 2)
    emu.lifecycle.quotas.set(training_usage("ml.m5.xlarge"), 2)        # the same
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

WARM_POOL_DEFAULT: Final = 0
_ACTIVE_JOB = frozenset({"InProgress", "Stopping"})
_LIMIT_MESSAGE: Final = (
    "The account-level service limit '{quota}' is {limit} Instances, with current utilization of "
    "{used} Instances and a request delta of {delta} Instances. Please contact AWS support to "
    "request an increase for this limit."
)


def training_usage(instance_type: str) -> str:
    return f"{instance_type} for training job usage"


def processing_usage(instance_type: str) -> str:
    return f"{instance_type} for processing job usage"


def transform_usage(instance_type: str) -> str:
    return f"{instance_type} for transform job usage"


def endpoint_usage(instance_type: str) -> str:
    return f"{instance_type} for endpoint usage"


def warm_pool_usage(instance_type: str) -> str:
    return f"{instance_type} for training warm pool usage"


ALL_TRAINING: Final = "Number of instances across all training jobs"
ALL_PROCESSING: Final = "Number of instances across all processing jobs"
ALL_TRANSFORM: Final = "Number of instances across all transform jobs"


class QuotaExceeded(Exception):
    def __init__(self, quota: str, limit: int, used: int, delta: int) -> None:
        self.quota, self.limit, self.used, self.delta = quota, limit, used, delta
        super().__init__(_LIMIT_MESSAGE.format(quota=quota, limit=limit, used=used, delta=delta))


# -- what a request asks for, what running resources hold ------------------------------------
def _instances(groups: Iterable[Mapping[str, Any]], type_key: str, count_key: str) -> Counter[str]:
    held: Counter[str] = Counter()
    for group in groups:
        instance_type = group.get(type_key)
        if instance_type:
            held[str(instance_type)] += int(group.get(count_key) or 1)
    return held


def training_instances(request: Mapping[str, Any]) -> Counter[str]:
    resource = request.get("ResourceConfig") or {}
    groups = resource.get("InstanceGroups") or [resource]
    return _instances(groups, "InstanceType", "InstanceCount")


def processing_instances(request: Mapping[str, Any]) -> Counter[str]:
    cluster = (request.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    return _instances([cluster], "InstanceType", "InstanceCount")


def transform_instances(request: Mapping[str, Any]) -> Counter[str]:
    return _instances([request.get("TransformResources") or {}], "InstanceType", "InstanceCount")


def endpoint_instances(variants: Iterable[Mapping[str, Any]]) -> Counter[str]:
    # Serverless variants hold no instances (ServerlessConfig instead of InstanceType).
    return _instances(variants, "InstanceType", "InitialInstanceCount")


def held_by_jobs(jobs: Iterable[Any], status_attr: str, request_of: Any) -> Counter[str]:
    held: Counter[str] = Counter()
    for job in jobs:
        if str(getattr(job, status_attr, "")) in _ACTIVE_JOB:
            held.update(request_of(job))
    return held


@dataclass
class QuotaBook:
    """Applied quota values by AWS's quota name; a name not set has no limit (see the module
    docstring), warm pools default to 0."""

    limits: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def set(self, quota: str, value: int) -> None:
        self.limits[quota] = value

    def limit(self, quota: str) -> int | None:
        if quota in self.limits:
            return self.limits[quota]
        return WARM_POOL_DEFAULT if quota.endswith("for training warm pool usage") else None

    def check(self, asked: Mapping[str, int], held: Mapping[str, int]) -> None:
        """`asked`/`held`: instances by quota name. Raise QuotaExceeded for the first quota the
        request would pass."""
        for quota, delta in asked.items():
            limit = self.limit(quota)
            used = int(held.get(quota, 0))
            if limit is not None and used + delta > limit:
                self.refused.append(quota)
                raise QuotaExceeded(quota, limit, used, delta)

    def warm_pool_granted(
        self, request: Mapping[str, Any], pools_held: Mapping[str, int] | None = None
    ) -> bool:
        """A completed job that asked for a warm pool (KeepAlivePeriodInSeconds > 0) keeps one only
        within the warm-pool quota of its instance types, counting the pools other jobs hold
        (`pools_held`, instances by type); otherwise none, without an error."""
        keep_alive = (request.get("ResourceConfig") or {}).get("KeepAlivePeriodInSeconds") or 0
        if keep_alive <= 0:
            return False
        held = pools_held or {}
        return all(
            (self.limit(warm_pool_usage(t)) or 0) >= held.get(t, 0) + n
            for t, n in training_instances(request).items()
        )


# WarmPoolStatus.Status values that hold the pool's instances (API reference, WarmPoolStatus).
_POOL_HELD = frozenset({"Available", "InUse"})


def warm_pools_held(training_jobs: Iterable[Any]) -> Counter[str]:
    """Instances by type that retained warm pools hold (moto's training jobs)."""
    held: Counter[str] = Counter()
    for job in training_jobs:
        status = getattr(job, "warm_pool_status", None) or {}
        if status.get("Status") in _POOL_HELD:
            held.update(training_instances({"ResourceConfig": job.resource_config or {}}))
    return held


def by_quota(instances: Mapping[str, int], usage: Any, across_all: str | None = None) -> Counter[str]:
    """Instances by type -> instances by quota name (per type, and the across-all quota)."""
    out: Counter[str] = Counter({usage(t): n for t, n in instances.items()})
    if across_all:
        out[across_all] = sum(instances.values())
    return out
