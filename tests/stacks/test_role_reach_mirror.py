"""dtrain.jobspec.s3_reach mirrors the execution role's S3 object statements exactly (same Sids)."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from dtrain.constructs.storage_stack import JOBS_PREFIX
from dtrain.jobspec.s3_reach import JOBS, ROLE_S3_GRANTS

EXPORTS = {"data": "DataBucketArn", "artifacts": "ArtifactsBucketArn", "checkpoints": "CheckpointsBucketArn"}
OBJECT_ACTIONS = {"read": {"s3:GetObject"}, "write": {"s3:PutObject"}}


def _object_statements(template: Template) -> dict[str, dict[str, Any]]:
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    return {
        s["Sid"]: s
        for s in statements
        if "Sid" in s and any(a in ("s3:GetObject", "s3:PutObject") for a in _actions(s))
    }


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _suffix(resource: Any) -> tuple[str, str]:
    """(export name, key pattern) of `{"Fn::Join": ["", [{"Fn::ImportValue": ...}, "/jobs/*"]]}`."""
    text = json.dumps(resource)
    export = next(name for name in EXPORTS.values() if name in text)
    parts = resource["Fn::Join"][1]
    return export, str(parts[-1]).removeprefix("/")


def test_every_s3_object_statement_of_the_role_is_in_the_table(templates: dict[str, Template]) -> None:
    statements = _object_statements(templates["training"])
    assert set(statements) == {g.sid for g in ROLE_S3_GRANTS}
    template_grants = set()
    for sid, statement in statements.items():
        actions = set(_actions(statement))
        access = frozenset(a for a, needed in OBJECT_ACTIONS.items() if needed <= actions)
        for resource in _resources(statement):
            export, pattern = _suffix(resource)
            template_grants.add((sid, access, export, pattern))
    table = {
        (g.sid, g.access, EXPORTS[g.bucket], g.key_pattern.replace(JOBS, JOBS_PREFIX)) for g in ROLE_S3_GRANTS
    }
    assert template_grants == table
