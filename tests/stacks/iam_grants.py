"""A template's IAM permissions as a set of grants, whatever their statement grouping.

One grant is (holder, action, resource, condition): the holder is the role a policy is attached
to (its logical id) or the policy itself when it names no role (a managed policy), the resource
and condition rendered to text (`Fn::Join` joined, `Ref`/`Fn::GetAtt`/`Fn::ImportValue` as
`${...}`). Two templates grant the same when their sets are equal, however CDK merged the
statements (`@aws-cdk/aws-iam:minimizePolicies`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Grant = tuple[str, str, str, str]

# The resources whose Properties.PolicyDocument is an identity policy.
_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def render(value: Any) -> str:
    """A resource or condition value as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::Join":
            return str(arg[0]).join(render(part) for part in arg[1])
        if fn == "Ref":
            return f"${{{arg}}}"
        if fn == "Fn::GetAtt":
            return f"${{{'.'.join(arg)}}}"
        if fn == "Fn::ImportValue":
            return f"${{Import:{render(arg)}}}"
    return json.dumps(value, sort_keys=True)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _holders(logical_id: str, properties: dict[str, Any]) -> list[str]:
    roles = [render(role) for role in properties.get("Roles", [])]
    return roles or [logical_id]


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource.get("Type") in _POLICY_TYPES:
            for holder in _holders(logical_id, props):
                for statement in props["PolicyDocument"]["Statement"]:
                    yield holder, statement
        if resource.get("Type") == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield f"${{{logical_id}}}", statement


def grants(template: dict[str, Any]) -> set[Grant]:
    """Every Allow of the template's identity policies, one grant per action and resource."""
    out: set[Grant] = set()
    for holder, statement in _statements(template):
        if statement.get("Effect") != "Allow":
            continue
        condition = render(statement.get("Condition", {}))
        for action in _listed(statement["Action"]):
            for resource in _listed(statement.get("Resource", "*")):
                out.add((holder, action, render(resource), condition))
    return out
