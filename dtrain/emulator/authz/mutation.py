"""Policy statements of a synthesized template, and the template without one of them.

Shared by the fault tests (a permission fault reintroduced by removing what fixes it) and
benchmarks/policy_mutation.py (every statement removed in turn). A statement is addressed by
the resource that holds it, the policy document inside it and its index; removing a policy's
last statement removes the policy resource (an empty policy is invalid) and the DependsOn
that named it. An AWS::Lambda::Permission is one statement of its function's policy.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Resource type -> the property paths that hold a policy document.
POLICY_DOCUMENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "AWS::IAM::Policy": (("PolicyDocument",),),
    "AWS::IAM::ManagedPolicy": (("PolicyDocument",),),
    "AWS::IAM::Role": (("AssumeRolePolicyDocument",),),
    "AWS::KMS::Key": (("KeyPolicy",),),
    "AWS::S3::BucketPolicy": (("PolicyDocument",),),
    "AWS::SNS::TopicPolicy": (("PolicyDocument",),),
    "AWS::EFS::FileSystem": (("FileSystemPolicy",),),
}


@dataclass(frozen=True)
class StatementRef:
    stack: str
    logical_id: str
    resource_type: str
    path: tuple[str, ...]  # property path of the document ("" for a Lambda permission)
    index: int
    summary: str  # Sid or effect + actions, for the table

    @property
    def label(self) -> str:
        where = ".".join(self.path) or "Permission"
        return f"{self.stack}/{self.logical_id} {where}[{self.index}] {self.summary}"


def _get(props: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = props
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _summary(statement: dict[str, Any]) -> str:
    actions = statement.get("Action") or statement.get("NotAction") or []
    actions = [actions] if isinstance(actions, str) else actions
    principal = statement.get("Principal")
    who = ""
    if isinstance(principal, dict) and "Service" in principal:
        who = f" to {principal['Service']}"
    text = f"{statement.get('Effect', '?')} {','.join(map(str, actions))}{who}"
    return f"{statement['Sid']}: {text}" if statement.get("Sid") else text


def statements(stack: str, template: dict[str, Any]) -> list[StatementRef]:
    out: list[StatementRef] = []
    for logical_id, res in template.get("Resources", {}).items():
        kind = res.get("Type", "")
        props = res.get("Properties", {})
        if kind == "AWS::Lambda::Permission":
            summary = f"Allow {props.get('Action')} to {props.get('Principal')}"
            out.append(StatementRef(stack, logical_id, kind, (), 0, summary))
            continue
        for path in POLICY_DOCUMENTS.get(kind, ()):
            doc = _get(props, path)
            if isinstance(doc, dict):
                for i, st in enumerate(doc.get("Statement", [])):
                    out.append(StatementRef(stack, logical_id, kind, path, i, _summary(st)))
        if kind == "AWS::IAM::Role":
            for p_index, policy in enumerate(props.get("Policies", [])):
                doc = policy.get("PolicyDocument", {})
                for i, st in enumerate(doc.get("Statement", [])):
                    path = ("Policies", str(p_index), "PolicyDocument")
                    out.append(StatementRef(stack, logical_id, kind, path, i, _summary(st)))
    return out


def _drop_resource(template: dict[str, Any], logical_id: str) -> None:
    resources = template["Resources"]
    resources.pop(logical_id, None)
    for res in resources.values():
        depends = res.get("DependsOn")
        if isinstance(depends, list) and logical_id in depends:
            res["DependsOn"] = [d for d in depends if d != logical_id]
        elif depends == logical_id:
            res.pop("DependsOn")


def without(template: dict[str, Any], ref: StatementRef) -> dict[str, Any]:
    out = copy.deepcopy(template)
    props = out["Resources"][ref.logical_id].setdefault("Properties", {})
    if ref.resource_type == "AWS::Lambda::Permission":
        _drop_resource(out, ref.logical_id)
        return out
    node: Any = props
    for part in ref.path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node["Statement"].pop(ref.index)
    if not node["Statement"] and ref.resource_type in (
        "AWS::IAM::Policy",
        "AWS::SNS::TopicPolicy",
        "AWS::S3::BucketPolicy",
    ):
        _drop_resource(out, ref.logical_id)
    return out


def without_matching(template: dict[str, Any], stack: str, predicate: Any) -> tuple[dict[str, Any], int]:
    """The template without every statement `predicate(ref, statement_json)` selects."""
    out = template
    removed = 0
    # Highest index first, so the remaining refs stay valid as statements go.
    for ref in sorted(statements(stack, template), key=lambda r: (r.logical_id, r.path, -r.index)):
        if ref.logical_id not in out["Resources"]:
            continue
        node: Any = out["Resources"][ref.logical_id].get("Properties", {})
        if ref.resource_type == "AWS::Lambda::Permission":
            text = json.dumps(node)
        else:
            for part in ref.path:
                node = node[int(part)] if isinstance(node, list) else node[part]
            text = json.dumps(node["Statement"][ref.index])
        if predicate(ref, text):
            out = without(out, ref)
            removed += 1
    return out, removed


def assembly_with(src: Path, dst: Path, templates: dict[str, dict[str, Any]]) -> Path:
    """A copy of a cloud assembly (links, not copies) whose named templates are replaced."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        if entry.name in templates:
            (dst / entry.name).write_text(json.dumps(templates[entry.name]))
        else:
            os.symlink(entry.resolve(), dst / entry.name)
    return dst
