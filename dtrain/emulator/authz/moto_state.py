"""Everything authorization reads from moto 5.2.5's backends, in one place (pinned moto).

The policies a decision needs (a role's inline and managed policies and trust policy, bucket,
topic, function, key and file-system policies) and the encryption facts that add KMS checks
(a bucket's default key, an object's key, a topic's key), read live from the backends so a
policy changed through the API is enforced at once. Also loads the two policy resources moto's
CloudFormation skips (AWS::S3::BucketPolicy, AWS::SNS::TopicPolicy).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)


# Parsed policy documents by their text: a policy is parsed once, and the same text always
# yields the same object, so the authorizer's decision cache can key on the object's identity
# (authorizer.Authorizer.decide). Entries are never evicted (identities stay unique); an
# emulator holds a few hundred policy texts at most.
_PARSED: dict[str, Any] = {}


def parsed_policy(text: str) -> Any:
    doc = _PARSED.get(text)
    if doc is None:
        doc = _PARSED.setdefault(text, json.loads(text))
    return doc


def _doc(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return parsed_policy(value)
    return parsed_policy(json.dumps(value, sort_keys=True))


@dataclass(frozen=True)
class MotoState:
    account: str
    region: str

    # -- IAM -------------------------------------------------------------------------------
    def _iam(self) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[self.account]["global"]

    def role(self, role_arn: str) -> Any | None:
        try:
            return self._iam().get_role_by_arn(role_arn)
        except Exception:  # moto raises its own NoSuchEntity
            return None

    def identity_policies(self, role_arn: str) -> list[tuple[str, Any]]:
        role = self.role(role_arn)
        if role is None:
            return []
        out = [(f"inline/{name}", _doc(doc)) for name, doc in role.policies.items()]
        for arn, managed in role.managed_policies.items():
            version = next((v for v in managed.versions if v.is_default), None)
            if version is not None:
                out.append((arn, _doc(version.document)))
        return out

    def trust_policy(self, role_arn: str) -> Any | None:
        role = self.role(role_arn)
        return _doc(role.assume_role_policy_document) if role is not None else None

    def state_machine_roles(self) -> set[str]:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        machines = stepfunctions_parser_backends[self.account][self.region].state_machines
        return {str(sm.roleArn) for sm in machines}

    def state_machine_role(self, arn: str) -> str | None:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        machines = stepfunctions_parser_backends[self.account][self.region].state_machines
        return next((str(sm.roleArn) for sm in machines if str(sm.arn) == arn), None)

    def state_machine_for_token(self, token: str) -> str | None:
        """The state machine that issued a task token: the one whose running execution waits on
        it (several platforms in one emulator have several state machines)."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        machines = stepfunctions_parser_backends[self.account][self.region].state_machines
        if len(machines) == 1:
            return str(machines[0].arn)
        for machine in machines:
            for execution in list(machine.executions):
                env = getattr(getattr(execution, "exec_worker", None), "env", None)
                pool = getattr(getattr(env, "callback_pool_manager", None), "_pool", {})
                if token in pool:  # moto's callback ids are the task tokens
                    return str(machine.arn)
        return None

    # -- S3 --------------------------------------------------------------------------------
    def _bucket(self, name: str) -> Any | None:
        from moto.s3.models import s3_backends

        return s3_backends[self.account]["aws"].buckets.get(name)

    def bucket_policy(self, name: str) -> Any | None:
        bucket = self._bucket(name)
        return _doc(bucket.policy) if bucket is not None else None

    def bucket_kms_key(self, name: str) -> str | None:
        bucket = self._bucket(name)
        rule = ((bucket.encryption or {}) if bucket is not None else {}).get("Rule") or {}
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
            return str(default.get("KMSMasterKeyID") or "") or None
        return None

    def object_kms_key(self, bucket_name: str, key: str) -> str | None:
        bucket = self._bucket(bucket_name)
        obj = bucket.keys.get(key) if bucket is not None else None
        if obj is None:
            return None
        if obj.encryption == "aws:kms":
            return str(obj.kms_key_id or "") or self.bucket_kms_key(bucket_name)
        if obj.encryption is None:
            # moto does not stamp the bucket's default onto objects; S3 does.
            return self.bucket_kms_key(bucket_name)
        return None

    # -- DynamoDB, CloudWatch Logs ----------------------------------------------------------
    def table_kms_key(self, name: str) -> str | None:
        """The table's customer managed or AWS managed key (SSESpecification), else None."""
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[self.account][self.region].tables.get(name)
        sse = (getattr(table, "sse_specification", None) or {}) if table is not None else {}
        # The API's SSESpecification says Enabled; CloudFormation's (moto keeps it) SSEEnabled.
        enabled = str(sse.get("Enabled", sse.get("SSEEnabled", False))).lower() == "true"
        return (str(sse.get("KMSMasterKeyId") or "") or None) if enabled else None

    def log_group_kms_key(self, name: str) -> str | None:
        from moto.logs.models import logs_backends

        group = logs_backends[self.account][self.region].groups.get(name)
        return str(getattr(group, "kms_key_id", None) or "") or None

    # -- SNS -------------------------------------------------------------------------------
    def _topic(self, arn: str) -> Any | None:
        from moto.sns.models import sns_backends

        return sns_backends[self.account][self.region].topics.get(arn)

    def topic_policy(self, arn: str) -> Any | None:
        topic = self._topic(arn)
        return _doc(topic.policy) if topic is not None else None

    def topic_kms_key(self, arn: str) -> str | None:
        topic = self._topic(arn)
        return (str(topic.kms_master_key_id) or None) if topic is not None else None

    # -- Lambda ----------------------------------------------------------------------------
    def function(self, name_or_arn: str) -> Any | None:
        from moto.awslambda.models import lambda_backends

        try:
            return lambda_backends[self.account][self.region].get_function(name_or_arn)
        except Exception:
            return None

    def function_policy(self, fn: Any) -> Any | None:
        # moto keeps AWS::Lambda::Permission's leftover properties (FunctionName) in the statement.
        statements = [{k: v for k, v in st.items() if k in _STATEMENT_KEYS} for st in fn.policy.statements]
        return _doc({"Version": "2012-10-17", "Statement": statements}) if statements else None

    # -- KMS -------------------------------------------------------------------------------
    def key(self, key_id: str) -> tuple[str, Any] | None:
        """(key ARN, key policy) for a key id, key ARN, alias name or alias ARN."""
        from moto.kms.models import kms_backends

        backend = kms_backends[self.account][self.region]
        try:
            key = backend.describe_key(backend.any_id_to_key_id(key_id))
        except Exception:
            return None
        return str(key.arn), _doc(key.policy)

    # -- EFS -------------------------------------------------------------------------------
    def file_system_policy(self, file_system_id: str) -> Any | None:
        from moto.efs.models import efs_backends

        fs = efs_backends[self.account][self.region].file_systems_by_id.get(file_system_id)
        return _doc(fs.file_system_policy) if fs is not None else None


def load_skipped_policies(session: Any, stack_name: str, account: str, region: str) -> list[str]:
    """Apply the stack's AWS::S3::BucketPolicy, AWS::SNS::TopicPolicy and EFS FileSystemPolicy
    (moto's CloudFormation skips all three).

    Values are resolved with moto's own CloudFormation resolver against the stack's resources.
    Returns what was applied, for the deploy summary.
    """
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json

    backend = cloudformation_backends[account][region]
    stack = next(
        (s for s in backend.stacks.values() if s.name == stack_name and s.status != "DELETE_COMPLETE"), None
    )
    if stack is None:
        return []
    applied: list[str] = []
    for logical_id, res in stack.template_dict.get("Resources", {}).items():
        kind = res.get("Type")
        if kind == "AWS::EFS::FileSystem" and res.get("Properties", {}).get("FileSystemPolicy"):
            # moto's CloudFormation creates the file system without its policy.
            props = clean_json(res["Properties"], stack.resource_map)
            session.client("efs", region_name=region).put_file_system_policy(
                FileSystemId=str(clean_json({"Ref": logical_id}, stack.resource_map)),
                Policy=json.dumps(props["FileSystemPolicy"]),
            )
            applied.append(f"{kind} {logical_id} FileSystemPolicy")
            continue
        if kind not in ("AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"):
            continue
        props = clean_json(res.get("Properties", {}), stack.resource_map)
        document = json.dumps(props["PolicyDocument"])
        if kind == "AWS::S3::BucketPolicy":
            session.client("s3", region_name=region).put_bucket_policy(
                Bucket=props["Bucket"], Policy=document
            )
        else:
            sns = session.client("sns", region_name=region)
            for topic in props.get("Topics", []):
                sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=document)
        applied.append(f"{kind} {logical_id}")
    return applied


def resolved_resources(account: str, region: str, types: frozenset[str]) -> list[tuple[str, str, str, Any]]:
    """(stack, logical id, type, resolved properties) of the deployed resources of these types,
    including those moto's CloudFormation does not create (alarms): read from the templates."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json

    out: list[tuple[str, str, str, Any]] = []
    for stack in cloudformation_backends[account][region].stacks.values():
        if stack.status == "DELETE_COMPLETE":
            continue
        for logical_id, res in stack.template_dict.get("Resources", {}).items():
            if res.get("Type") in types:
                props = clean_json(res.get("Properties", {}), stack.resource_map)
                out.append((stack.name, logical_id, res["Type"], props))
    return out


@contextmanager
def moto_bucket_policy_check_off() -> Iterator[None]:
    """moto's own bucket-policy check applies a Deny without its conditions (an enforce_ssl
    policy refuses every object call, TLS or not); the authorizer evaluates bucket policies
    instead, so moto's answers "neutral" while the emulator runs."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    original = FakeBucket.__dict__["get_permission"]
    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL  # type: ignore[method-assign]
    try:
        yield
    finally:
        FakeBucket.get_permission = original  # type: ignore[method-assign]
