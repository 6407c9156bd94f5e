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

from dtrain.emulator.authz.sagemaker_keys import request_context
from dtrain.orchestration.job_kinds import SAGEMAKER_RESOURCES


class State(Protocol):
    """What the mapper looks up in the platform (moto_state.MotoState)."""

    def bucket_kms_key(self, name: str) -> str | None: ...
    def object_kms_key(self, bucket_name: str, key: str) -> str | None: ...
    def topic_kms_key(self, arn: str) -> str | None: ...
    def function(self, name_or_arn: str) -> Any | None: ...
    def key(self, key_id: str) -> tuple[str, Any] | None: ...
    def state_machine_for_token(self, token: str) -> str | None: ...
    def state_machine_role(self, arn: str) -> str | None: ...
    def table_kms_key(self, name: str) -> str | None: ...
    def log_group_kms_key(self, name: str) -> str | None: ...


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
    # A check the service makes as itself, whoever calls (a role's trust policy admitting
    # states.amazonaws.com, a key policy admitting logs.<region>.amazonaws.com): "" = the caller.
    service_principal: str = ""


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name (s3, sns, stepfunctions, ...)
    operation: str
    params: Mapping[str, Any]
    region: str
    account: str


# botocore service name -> IAM service prefix where they differ.
IAM_PREFIX = {
    "stepfunctions": "states",
    "efs": "elasticfilesystem",
    "monitoring": "cloudwatch",
    "sagemaker-runtime": "sagemaker",
}
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
# Request parameter naming the resource -> its resource type in the Service Authorization
# Reference ("Resource types defined by Amazon SageMaker AI"); SageMaker ARNs carry names in
# lower case. The platform's resources come from its table (dtrain.orchestration.job_kinds),
# then the others the emulator authorizes.
_SAGEMAKER_RESOURCES = (
    *((resource.name_key, resource.arn_type) for resource in SAGEMAKER_RESOURCES.values()),
    ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
    ("ExperimentName", "experiment"),
    ("TrialName", "experiment-trial"),
    ("TrialComponentName", "experiment-trial-component"),
)
# Operations that pass a role to SageMaker, and the parameter holding it (Service
# Authorization Reference, SageMaker's "Dependent actions": iam:PassRole for each).
_SAGEMAKER_PASSED_ROLE = {
    "CreateTrainingJob": "RoleArn",
    "CreateProcessingJob": "RoleArn",
    "CreateHyperParameterTuningJob": "RoleArn",
    "CreateModel": "ExecutionRoleArn",
}


def _sagemaker_arn(call: Call) -> str:
    p = call.params
    if "ResourceArn" in p:  # AddTags, ListTags, DeleteTags
        return str(p["ResourceArn"])
    kinds = dict(_SAGEMAKER_RESOURCES)
    # The resource an operation acts on is the one its name ends with (CreateEndpoint names
    # an endpoint config too, CreateTransformJob a model: the endpoint / the transform job).
    named = [param for param in kinds if param in p]
    own = [param for param in named if call.operation.endswith(param.removesuffix("Name"))]
    param = (own or named or [""])[0]
    if not param:
        return "*"
    return f"arn:aws:sagemaker:{call.region}:{call.account}:{kinds[param]}/{str(p[param]).lower()}"


def _sagemaker(state: State, call: Call) -> list[Check]:
    op = call.operation
    # The request's condition keys (instance types, run limits, tags...): a guardrail that
    # conditions on them decides here as in AWS (sagemaker_keys).
    checks = [Check(f"sagemaker:{op}", _sagemaker_arn(call), context=request_context(op, call.params))]
    role_param = _SAGEMAKER_PASSED_ROLE.get(op)
    if role_param and call.params.get(role_param):
        checks.append(
            Check(
                "iam:PassRole",
                str(call.params[role_param]),
                context=_ctx(iam__PassedToService="sagemaker.amazonaws.com"),
            )
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


# A job's EFS channels: SageMaker mounts them from the training instances as a plain NFS client
# through a mount target, without the EFS mount helper's IAM option, so the client is anonymous
# and only the file-system policy decides (EFS User Guide, "Using IAM to control file system
# data access": ClientMount for read-only access, ClientWrite to write; condition key
# elasticfilesystem:AccessedViaMountTarget, https://docs.aws.amazon.com/efs/latest/ug/iam-access-control-nfs-efs.html).
# Root squashing (ClientRootAccess) is not modelled: the local stand-in directory has no owner.
def job_file_system_checks(request: Mapping[str, Any], region: str, account: str) -> list[Check]:
    checks: list[Check] = []
    for channel in request.get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}).get("FileSystemDataSource") or {}
        if str(source.get("FileSystemType", "")).upper() != "EFS" or not source.get("FileSystemId"):
            continue
        fs_id = str(source["FileSystemId"])
        arn = f"arn:aws:elasticfilesystem:{region}:{account}:file-system/{fs_id}"
        context = _ctx(elasticfilesystem__AccessedViaMountTarget="true")
        actions = ["elasticfilesystem:ClientMount"]
        if source.get("FileSystemAccessMode") == "rw":
            actions.append("elasticfilesystem:ClientWrite")
        checks += [Check(a, arn, "filesystem", fs_id, context) for a in actions]
    return checks


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
    arn = str(p.get("executionArn") or p.get("stateMachineArn") or "*")
    checks = [Check(action, arn)]
    if call.operation in ("CreateStateMachine", "UpdateStateMachine") and p.get("roleArn"):
        # Service Authorization Reference, Step Functions' API operations table:
        # CreateStateMachine (and UpdateStateMachine with a role) also authorize iam:PassRole
        # with iam:PassedToService = states.amazonaws.com. StartExecution passes no role.
        role = str(p["roleArn"])
        checks.append(Check("iam:PassRole", role, context=_ctx(iam__PassedToService="states.amazonaws.com")))
        checks.append(_states_assumes(role, arn if arn != "*" else ""))
    elif call.operation == "StartExecution":
        # An execution runs as the state machine's role, which Step Functions assumes: the
        # role's trust policy must admit states.amazonaws.com (Step Functions Developer Guide,
        # "Creating a state machine role"; AWS refuses CreateStateMachine with "Neither the
        # global service principal states.amazonaws.com, nor the regional one is authorized to
        # assume the provided role"). The emulator's stacks are created by moto's CloudFormation
        # without that check, so it is made when an execution starts.
        machine_role = state.state_machine_role(arn)
        if machine_role:
            checks.append(_states_assumes(machine_role, arn))
    return checks


def _states_assumes(role: str, source_arn: str) -> Check:
    return Check(
        "sts:AssumeRole",
        role,
        "role",
        role,
        context=_ctx(aws__SourceArn=source_arn or None),
        service_principal="states.amazonaws.com",
    )


# DynamoDB data-plane operations: each reads or writes through the table key, which DynamoDB
# decrypts with kms:Decrypt on the table's KMS key, with the caller's permissions
# (kms:ViaService = dynamodb.<region>.amazonaws.com). For a customer managed key the caller
# therefore needs kms:Decrypt on it (AWS KMS Developer Guide, "How Amazon DynamoDB uses AWS
# KMS" > "Authorizing use of your KMS key": the key policy example "Allow access through
# Amazon DynamoDB for all principals in the account that are authorized to use Amazon
# DynamoDB", conditioned on kms:ViaService and kms:CallerAccount,
# https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html). CDK's
# Table.grant*Data adds the key grant for this reason (aws-cdk PR 7425).
_DYNAMODB_DATA = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def _dynamodb_tables(call: Call) -> list[str]:
    p = call.params
    if p.get("TableName"):
        return [str(p["TableName"])]
    if isinstance(p.get("RequestItems"), Mapping):  # BatchGetItem / BatchWriteItem
        return sorted(str(t) for t in p["RequestItems"])
    items = p.get("TransactItems") or []
    return sorted({str(v["TableName"]) for item in items for v in item.values() if "TableName" in v})


def _dynamodb(state: State, call: Call) -> list[Check]:
    tables = _dynamodb_tables(call)
    if not tables:
        return [Check(f"dynamodb:{call.operation}", "*")]
    index = call.params.get("IndexName")
    checks: list[Check] = []
    for table in tables:
        arn = f"arn:aws:dynamodb:{call.region}:{call.account}:table/{table}"
        checks.append(Check(f"dynamodb:{call.operation}", f"{arn}/index/{index}" if index else arn))
        if call.operation in _DYNAMODB_DATA:
            checks += kms_checks(state, call, state.table_kms_key(table), ["kms:Decrypt"], "dynamodb")
    return checks


# CloudWatch Logs uses a log group's KMS key as itself (logs.<region>.amazonaws.com), not with
# the caller's permissions: the key policy must admit that principal for the log group
# (encryption context aws:logs:arn), or "AWS refuses" the associate/create and the writes
# (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS",
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
_LOGS_KEY_ACTIONS = {
    "CreateLogGroup": ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
    "AssociateKmsKey": ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
    "PutLogEvents": ("kms:GenerateDataKey",),
    "GetLogEvents": ("kms:Decrypt",),
    "FilterLogEvents": ("kms:Decrypt",),
}


def _logs(state: State, call: Call) -> list[Check]:
    p = call.params
    group = p.get("logGroupName")
    stream = p.get("logStreamName")
    base = f"arn:aws:logs:{call.region}:{call.account}:log-group:{group}"
    if group is None:
        return [Check(f"logs:{call.operation}", "*")]
    if call.operation in ("CreateLogStream", "PutLogEvents", "GetLogEvents") and stream is not None:
        checks = [Check(f"logs:{call.operation}", f"{base}:log-stream:{stream}")]
    else:
        checks = [Check(f"logs:{call.operation}", base)]
    key_id = p.get("kmsKeyId") or state.log_group_kms_key(str(group))
    found = state.key(str(key_id)) if key_id and call.operation in _LOGS_KEY_ACTIONS else None
    if found is not None:
        context = _ctx(kms__EncryptionContext__aws__logs__arn=base)
        logs_service = f"logs.{call.region}.amazonaws.com"
        checks += [
            Check(a, found[0], "key", found[0], context, service_principal=logs_service)
            for a in _LOGS_KEY_ACTIONS[call.operation]
        ]
    return checks


def _cloudwatch(state: State, call: Call) -> list[Check]:
    namespace = call.params.get("Namespace")
    return [Check(f"cloudwatch:{call.operation}", "*", context=_ctx(cloudwatch__namespace=namespace))]


MAPPERS: dict[str, Callable[[State, Call], list[Check]]] = {
    "s3": _s3,
    "sns": _sns,
    "lambda": _lambda,
    "kms": _kms,
    "sagemaker": _sagemaker,
    "stepfunctions": _states,
    "dynamodb": _dynamodb,
    "logs": _logs,
    "cloudwatch": _cloudwatch,
    "sagemaker-runtime": _sagemaker,
}


@dataclass
class Unmapped:
    """Operations authorized by action alone (resource "*"), counted so gaps are visible."""

    seen: dict[str, int] = field(default_factory=dict)


# Operations with checks the service makes as itself (Check.service_principal), which apply
# whoever calls, the emulator's own full-access caller included.
SERVICE_CHECKED = frozenset(
    {("stepfunctions", op) for op in ("StartExecution", "CreateStateMachine", "UpdateStateMachine")}
    | {("logs", op) for op in _LOGS_KEY_ACTIONS}
)


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
