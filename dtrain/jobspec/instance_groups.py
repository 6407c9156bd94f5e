"""Heterogeneous clusters: SDK 2.220's `instance_groups` (sagemaker.instance_group.InstanceGroup).

A spec lists the groups as InstanceGroup's keyword arguments; `distribution.instance_groups`
and a channel's `instance_groups` name them (the SDK takes InstanceGroup objects in
`distribution` and names in TrainingInput). Limits are the CreateTrainingJob model's:
ResourceConfig.InstanceGroups holds at most 5 groups, InstanceGroupName is 1-64 characters,
InstanceCount >= 0. See "Train Using a Heterogeneous Cluster" in the SageMaker developer guide
(https://docs.aws.amazon.com/sagemaker/latest/dg/train-heterogeneous-cluster.html).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.values import Each, Int, Table, Text

MAX_GROUPS: Final = 5
MAX_GROUP_NAME: Final = 64
GROUP_KEYS: Final = ("instance_group_name", "instance_type", "instance_count")
# SDK 2.220 EstimatorBase._get_instance_type: the first GPU (g*/p*) group's type, else the first's.
_FAMILY_RE = re.compile(r"^ml[\._]([a-z\d]+)\.?\w*$")


@dataclass(frozen=True)
class InstanceGroup:
    name: str
    instance_type: str
    instance_count: int

    def request(self) -> dict[str, Any]:
        """ResourceConfig.InstanceGroups[] as SDK 2.220's InstanceGroup._to_request_dict."""
        return {
            "InstanceGroupName": self.name,
            "InstanceType": self.instance_type,
            "InstanceCount": self.instance_count,
        }


_NAME_RULE = "required: a one-line name of 1 to 64 characters"
_TYPE_RULE = "required: a SageMaker instance type ml.<family>.<size>"
_COUNT_RULE = "required: an integer >= 1"
# SDK 2.220 InstanceGroup's arguments (botocore InstanceGroup: name 1-64, count >= 1).
GROUP_TABLE: Final = Table(
    "estimator.instance_groups[]",
    {
        "instance_group_name": Text(MAX_GROUP_NAME, rule=_NAME_RULE, one_rule=True),
        "instance_type": Text(64, rules.INSTANCE_TYPE_RE, _TYPE_RULE, one_rule=True),
        "instance_count": Int(1, rule=_COUNT_RULE),
    },
    required=GROUP_KEYS,
    missing={"instance_group_name": _NAME_RULE, "instance_type": _TYPE_RULE, "instance_count": _COUNT_RULE},
)
assert tuple(GROUP_TABLE.args) == GROUP_KEYS


def instance_groups_schema() -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "maxItems": MAX_GROUPS, "items": GROUP_TABLE.schema()}


def check_instance_groups(
    field: str, value: object, errors: ErrorCollector
) -> tuple[InstanceGroup, ...] | None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_GROUPS:
        errors.add(field, value, f"must be a list of 1 to {MAX_GROUPS} instance groups")
        return None
    before = len(errors.errors)
    groups: list[InstanceGroup] = []
    for i, item in enumerate(value):
        path = f"{field}[{i}]"
        mark = len(errors.errors)
        got = GROUP_TABLE.read(
            path, item, errors, not_object=f"must be an object with {', '.join(GROUP_KEYS)}"
        )
        if got is not None and all(k in got for k in GROUP_KEYS) and len(errors.errors) == mark:
            groups.append(InstanceGroup(*(got[k] for k in GROUP_KEYS)))
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        errors.add(field, names, "instance group names must be unique")
    return tuple(groups) if len(errors.errors) == before else None


# A list of group names (distribution.instance_groups, a channel's instance_groups).
GROUP_NAMES: Final = Each(
    Text(MAX_GROUP_NAME, one_line=False),
    MAX_GROUPS,
    f"must be a list of at most {MAX_GROUPS} instance group names",
    description="list of instance group names (instance_groups of the estimator)",
)


def check_group_names(field: str, value: object, errors: ErrorCollector) -> tuple[str, ...] | None:
    got = GROUP_NAMES.read(field, value, "", errors)
    return got if isinstance(got, tuple) else None


def primary_instance_type(groups: Sequence[InstanceGroup]) -> str:
    """The type SDK 2.220 looks images up with: the first GPU group's, else the first group's."""
    for group in groups:
        match = _FAMILY_RE.match(group.instance_type)
        if match and match[1][0] in ("g", "p"):
            return group.instance_type
    return groups[0].instance_type


def unknown_names(names: Sequence[str], groups: Sequence[InstanceGroup]) -> list[str]:
    known = {g.name for g in groups}
    return [n for n in names if n not in known]
