"""What an API call means in IAM: (operation, parameters) -> the checks AWS makes.

One table per service maps an operation to its IAM action and the resource ARN built from the
request, plus the context keys AWS sets (s3:prefix, iam:PassedToService, ...). A call can mean
several checks: CreateTrainingJob also passes a role; a call on an SSE-KMS bucket or topic
makes the service call KMS on the caller's behalf (kms:ViaService = the service).

Sources: the Service Authorization Reference (actions, resource types, condition keys) for
each service; S3 "Using SSE-KMS" (GetObject needs kms:Decrypt, PutObject kms:GenerateDataKey,
multipart also kms:Decrypt); SNS "Key management" (a publisher to an encrypted topic needs
kms:GenerateDataKey* and kms:Decrypt); IAM "Granting a user permissions to pass a role".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class State(Protocol):
    """What the mapper looks up in the platform (moto_state.MotoState)."""

    def bucket_kms_key(self, name: str) -> str | None: ...
    def object_kms_key(self, bucket_name: str, key: str) -> str | None: ...
    def topic_kms_key(self, arn: str) -> str | None: ...
    def function(self, name_or_arn: str) -> Any | None: ...
    def key(self, key_id: str) -> tuple[str, Any] | None: ...
    def state_machine_for_token(self, token: str) -> str | None: ...


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    # Which resource policy applies: "bucket", "topic", "function", "key", "role" (trust) or "".
    policy_kind: str = ""
    policy_ref: str = ""  # the bucket name / topic ARN / function ARN / key ARN / role ARN
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    via: str = ""  # the service acting on the caller's behalf, for KMS checks ("" = direct)
    unvalidated: bool = False  # see RESOURCE_BEYOND_REFERENCE


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name (s3, sns, stepfunctions, ...)
    operation: str
    params: Mapping[str, Any]
    region: str
    account: str


# botocore service name -> IAM service prefix where they differ.
IAM_PREFIX = {"stepfunctions": "states", "efs": "elasticfilesystem", "monitoring": "cloudwatch"}
# Calls that need no permission (STS GetCallerIdentity: "No permissions are required").
UNAUTHORIZED_OK = {("sts", "GetCallerIdentity")}


def _ctx(**values: str | list[str] | None) -> tuple[tuple[str, str | tuple[str, ...]], ...]:
    out: list[tuple[str, str | tuple[str, ...]]] = []
    for k, v in values.items():
        if v is None:
            continue
        out.append((k.replace("__", ":"), tuple(v) if isinstance(v, list) else v))
    return tuple(out)


def kms_checks(state: State, call: Call, key_id: str | None, actions: list[str], via: str) -> list[Check]:
    """The KMS calls a service makes for the caller (kms:ViaService = <service>.<region>.amazonaws.com)."""
    if not key_id:
        return []
    found = state.key(key_id)
    if found is None:
        return []  # an AWS-managed or foreign key: not modelled here
    key_arn, _ = found
    context = _ctx(
        kms__ViaService=f"{via}.{call.region}.amazonaws.com",
        kms__CallerAccount=call.account,
        # A grant an integrated service creates for its own use (KMS "kms:GrantIsForAWSResource").
        kms__GrantIsForAWSResource="true" if "kms:CreateGrant" in actions else None,
    )
    return [Check(a, key_arn, "key", key_arn, context, via=via) for a in actions]


# -- S3 ------------------------------------------------------------------------------------
_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
}
_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
}


def _s3(state: State, call: Call) -> list[Check]:
    p, op = call.params, call.operation
    bucket = str(p.get("Bucket", ""))
    if op == "ListBuckets":
        return [Check("s3:ListAllMyBuckets", "*")]
    if op == "CopyObject":
        src = p["CopySource"]
        src_bucket, src_key = (
            (src["Bucket"], src["Key"]) if isinstance(src, dict) else str(src).lstrip("/").split("/", 1)
        )
        get = Call(
            call.service, "GetObject", {"Bucket": src_bucket, "Key": src_key}, call.region, call.account
        )
        put = Call(
            call.service,
            "PutObject",
            {k: v for k, v in p.items() if k != "CopySource"},
            call.region,
            call.account,
        )
        return _s3(state, get) + _s3(state, put)
    if op in _S3_OBJECT_ACTIONS:
        key = str(p.get("Key", ""))
        checks = [Check(_S3_OBJECT_ACTIONS[op], f"arn:aws:s3:::{bucket}/{key}", "bucket", bucket)]
        if op in ("GetObject", "HeadObject"):
            checks += kms_checks(state, call, state.object_kms_key(bucket, key), ["kms:Decrypt"], "s3")
        elif op == "PutObject":
            sse_key = p.get("SSEKMSKeyId") or state.bucket_kms_key(bucket)
            checks += kms_checks(state, call, sse_key, ["kms:GenerateDataKey"], "s3")
        elif op == "CreateMultipartUpload":
            sse_key = p.get("SSEKMSKeyId") or state.bucket_kms_key(bucket)
            checks += kms_checks(state, call, sse_key, ["kms:GenerateDataKey", "kms:Decrypt"], "s3")
        return checks
    if op in _S3_BUCKET_ACTIONS:
        prefix = p.get("Prefix") if _S3_BUCKET_ACTIONS[op] == "s3:ListBucket" else None
        context = _ctx(s3__prefix=str(prefix) if prefix is not None else None)
        return [Check(_S3_BUCKET_ACTIONS[op], f"arn:aws:s3:::{bucket}", "bucket", bucket, context)]
    return [
        Check(f"s3:{op}", f"arn:aws:s3:::{bucket}" if bucket else "*", "bucket" if bucket else "", bucket)
    ]


# -- SNS -----------------------------------------------------------------------------------
def _sns(state: State, call: Call) -> list[Check]:
    arn = str(call.params.get("TopicArn") or call.params.get("TargetArn") or "*")
    checks = [Check(f"sns:{call.operation}", arn, "topic" if arn != "*" else "", arn)]
    if call.operation == "Publish" and arn != "*":
        checks += kms_checks(
            state, call, state.topic_kms_key(arn), ["kms:GenerateDataKey", "kms:Decrypt"], "sns"
        )
    return checks


# -- Lambda --------------------------------------------------------------------------------
def _lambda(state: State, call: Call) -> list[Check]:
    name = str(call.params.get("FunctionName", ""))
    fn = state.function(name) if name else None
    arn = (
        str(fn.function_arn)
        if fn is not None
        else f"arn:aws:lambda:{call.region}:{call.account}:function:{name}"
    )
    action = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeAsync"}.get(call.operation, call.operation)
    return [Check(f"lambda:{action}", arn if name else "*", "function" if name else "", arn)]


# -- KMS -----------------------------------------------------------------------------------
def _kms(state: State, call: Call) -> list[Check]:
    key_id = call.params.get("KeyId")
    found = state.key(str(key_id)) if key_id else None
    if found is None:
        return [Check(f"kms:{call.operation}", "*")]
    arn = found[0]
    return [Check(f"kms:{call.operation}", arn, "key", arn, _ctx(kms__CallerAccount=call.account))]


# -- SageMaker -----------------------------------------------------------------------------
# Request parameter -> SageMaker resource type, in the order an operation's own resource is
# found (CreateTransformJob names a model too, CreateEndpoint a config too: the first one is the
# resource the Service Authorization Reference lists as required for the action).
_SAGEMAKER_RESOURCES = (
    ("TrainingJobName", "training-job"),
    ("TransformJobName", "transform-job"),
    ("EndpointName", "endpoint"),
    ("EndpointConfigName", "endpoint-config"),
    ("ModelName", "model"),
)
# Operations that pass a role to SageMaker (iam:PassRole with iam:PassedToService).
_SAGEMAKER_PASSED_ROLE = {"CreateTrainingJob": "RoleArn", "CreateModel": "ExecutionRoleArn"}


def _sagemaker(state: State, call: Call) -> list[Check]:
    p, op = call.params, call.operation
    # sagemaker-runtime's InvokeEndpoint is the IAM action sagemaker:InvokeEndpoint.
    action = f"sagemaker:{op}"
    arn = (
        str(p["ResourceArn"])
        if op in ("AddTags", "ListTags", "DeleteTags") and p.get("ResourceArn")
        else None
    )
    for param, resource_type in _SAGEMAKER_RESOURCES:
        if arn is None and p.get(param) is not None:
            # SageMaker ARNs carry the name in lower case.
            arn = f"arn:aws:sagemaker:{call.region}:{call.account}:{resource_type}/{str(p[param]).lower()}"
    if arn is None:
        return [Check(action, "*")]
    checks = [Check(action, arn)]
    role_param = _SAGEMAKER_PASSED_ROLE.get(op)
    if role_param:
        role = str(p.get(role_param, ""))
        checks.append(
            Check("iam:PassRole", role, context=_ctx(iam__PassedToService="sagemaker.amazonaws.com"))
        )
    return checks


def job_key_checks(state: State, request: Mapping[str, Any], region: str, account: str) -> list[Check]:
    """What SageMaker does with a job's keys as its execution role: a grant on the volume key
    (kms:CreateGrant) and encryption with the output key (kms:Encrypt; CreateTrainingJob API
    reference, OutputDataConfig.KmsKeyId: "the SageMaker execution role must include
    permissions to call kms:Encrypt"; the volume-key grant as for SageMaker's other volume
    keys, e.g. RecommendationJobInputConfig.VolumeKmsKeyId)."""
    call = Call("sagemaker", "CreateTrainingJob", request, region, account)
    volume = (request.get("ResourceConfig") or {}).get("VolumeKmsKeyId")
    output = (request.get("OutputDataConfig") or {}).get("KmsKeyId")
    checks = kms_checks(state, call, str(volume), ["kms:CreateGrant"], "sagemaker") if volume else []
    return checks + (kms_checks(state, call, str(output), ["kms:Encrypt"], "sagemaker") if output else [])


# -- Step Functions, DynamoDB, CloudWatch Logs, CloudWatch ---------------------------------
# Actions the Service Authorization Reference lists without a resource type that AWS still
# authorizes against a resource: SendTask* against the state machine that issued the token
# (AWS's refusal names "on resource: arn:aws:states:...:stateMachine:<name>"; aws-cdk PR 8486
# tested grants on the state machine ARN, which CDK's grantTaskResponse emits).
RESOURCE_BEYOND_REFERENCE = frozenset(
    {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
)


def _states(state: State, call: Call) -> list[Check]:
    p = call.params
    action = f"states:{call.operation}"
    if action in RESOURCE_BEYOND_REFERENCE:
        machine = state.state_machine_for_token(str(p.get("taskToken", "")))
        if machine:
            return [Check(action, machine, unvalidated=True)]
        return [Check(action, "*")]
    arn = p.get("executionArn") or p.get("stateMachineArn") or "*"
    return [Check(action, str(arn))]


def _dynamodb(state: State, call: Call) -> list[Check]:
    table = call.params.get("TableName")
    if not table:
        return [Check(f"dynamodb:{call.operation}", "*")]
    arn = f"arn:aws:dynamodb:{call.region}:{call.account}:table/{table}"
    index = call.params.get("IndexName")
    return [Check(f"dynamodb:{call.operation}", f"{arn}/index/{index}" if index else arn)]


def _logs(state: State, call: Call) -> list[Check]:
    p = call.params
    group = p.get("logGroupName")
    stream = p.get("logStreamName")
    base = f"arn:aws:logs:{call.region}:{call.account}:log-group:{group}"
    if group is None:
        return [Check(f"logs:{call.operation}", "*")]
    if call.operation in ("CreateLogStream", "PutLogEvents", "GetLogEvents") and stream is not None:
        return [Check(f"logs:{call.operation}", f"{base}:log-stream:{stream}")]
    return [Check(f"logs:{call.operation}", base)]


def _cloudwatch(state: State, call: Call) -> list[Check]:
    namespace = call.params.get("Namespace")
    return [Check(f"cloudwatch:{call.operation}", "*", context=_ctx(cloudwatch__namespace=namespace))]


MAPPERS: dict[str, Callable[[State, Call], list[Check]]] = {
    "s3": _s3,
    "sns": _sns,
    "lambda": _lambda,
    "kms": _kms,
    "sagemaker": _sagemaker,
    "sagemaker-runtime": _sagemaker,
    "stepfunctions": _states,
    "dynamodb": _dynamodb,
    "logs": _logs,
    "cloudwatch": _cloudwatch,
}


@dataclass
class Unmapped:
    """Operations authorized by action alone (resource "*"), counted so gaps are visible."""

    seen: dict[str, int] = field(default_factory=dict)


def checks_for(state: State, call: Call, unmapped: Unmapped | None = None) -> list[Check]:
    if (call.service, call.operation) in UNAUTHORIZED_OK:
        return []
    mapper = MAPPERS.get(call.service)
    if mapper is None:
        if unmapped is not None:
            key = f"{call.service}:{call.operation}"
            unmapped.seen[key] = unmapped.seen.get(key, 0) + 1
        return [Check(f"{IAM_PREFIX.get(call.service, call.service)}:{call.operation}", "*")]
    return mapper(state, call)
