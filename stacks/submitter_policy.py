"""The least-privilege managed policy for a scientist running `dtrain submit|status|logs|stop|list`.

What the CLI calls, and nothing else (each grant names the command that needs it):
- every command: cloudformation:DescribeStacks on the orchestration stack (platform settings);
- submit: states:StartExecution on the state machine; s3:PutObject of the source tarball
  (`<execution>/source/sourcedir.tar.gz` in the artifacts bucket) and of a local processing
  script (`<execution>/source/processing/<file>`) and of a deploy / transform block's inference
  code (`<execution>/source/inference/sourcedir.tar.gz`) and kms:GenerateDataKey on its
  key through S3 (the bucket is SSE-KMS; the key policy delegates to IAM through the account root);
- status/list/stop: the ledger (dynamodb:GetItem/Query/Scan on the table and its indexes, and
  kms:Decrypt on its key through DynamoDB: DynamoDB decrypts the table key with the caller's
  permissions, AWS KMS Developer Guide, "How Amazon DynamoDB uses AWS KMS"),
  states:DescribeExecution/StopExecution/GetExecutionHistory on this state machine's executions,
  sagemaker:DescribeTrainingJob and DescribeProcessingJob (the step before training) on the
  platform's jobs (`<prefix>-*`), and DescribeEndpoint / DescribeTransformJob on the platform's
  endpoints and transform jobs (`<prefix>-*`: a deploy or transform execution's last step,
  which `dtrain status` and `submit --wait` describe);
- logs: logs:DescribeLogStreams/GetLogEvents on SageMaker's training log group, and on the
  streams of the platform's processing jobs in SageMaker's processing log group;
- the results (issue 29, finding 7): s3:GetObject of the platform's trained and repacked
  `model.tar.gz` (`jobs/<prefix>-*/output/model.tar.gz`, `jobs/<prefix>-*/model.tar.gz`) with
  kms:Decrypt on the data key through S3 only, and sagemaker:InvokeEndpoint on the platform's
  endpoints (`<prefix>-*`); still no reads of data or checkpoints.
Tested by running the CLI as a principal with only this policy against the emulator
(tests/cli/test_cli_submitter_policy.py).

A team's policy (a platform with teams, dtrain.team_names; issue 29) is the same list scoped to the
team: its own state machine's executions (and states:ListExecutions on it, what `dtrain list`
reads instead of the ledger), uploads and model reads under its S3 prefix `teams/<team>/`,
Describe, InvokeEndpoint and log streams on its names `<prefix>-<team>-*`, and iam:PassRole of its
own execution role to SageMaker only. It has no ledger statement at all: the ledger's rows hold
the task tokens, and whoever reads one can answer another team's wait state (SendTaskSuccess
needs only the token; the Service Authorization Reference lists no resource type for it).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Arn, ArnComponents, ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dtrain import team_names
from dtrain.constructs.training_stack import (
    INFERENCE_CODE_PATTERN,
    PROCESSING_CODE_PATTERN,
    SAGEMAKER_LOG_GROUP,
    SAGEMAKER_PROCESSING_LOG_GROUP,
    SOURCE_TARBALL_PATTERN,
    exported_arn,
)
from dtrain.orchestration.job_kinds import ENDPOINT, KINDS, PROCESSING, TRAINING, TRANSFORM
from dtrain.requests.inference_request import REPACKED_ARCHIVE

# What `dtrain status|list|stop` and `submit --wait` describe, by statement id: the jobs, the
# processing step before training, and a deploy or transform execution's last step.
SCIENTIST_DESCRIBES: dict[str, tuple[str, ...]] = {
    "DescribeJobs": (TRAINING,),
    "DescribeProcessingJobs": (PROCESSING,),
    "DescribeHostedResources": (ENDPOINT, TRANSFORM),
}


def _allow(sid: str, actions: Sequence[str], resources: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=list(actions), resources=list(resources))


def _key_through(sid: str, action: str, key: kms.IKey, service: str, region: str) -> iam.PolicyStatement:
    """A key action only as `service` calls it for the scientist (kms:ViaService)."""
    return iam.PolicyStatement(
        sid=sid,
        actions=[action],
        resources=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com"}},
    )


def _describe(sid: str, kinds: Sequence[str], sagemaker_head: str, prefix: str) -> iam.PolicyStatement:
    """Describe* of these job kinds (dtrain.orchestration.job_kinds) on the platform's prefix."""
    return _allow(
        sid,
        [KINDS[kind].iam_action(KINDS[kind].describe) for kind in kinds],
        [f"{sagemaker_head}:{KINDS[kind].arn_type}/{prefix}-*" for kind in kinds],
    )


def _read_log_streams(sid: str, log_group: str, prefix: str) -> iam.PolicyStatement:
    """SageMaker names a job's streams `<job>/<host>-<epoch>` ("Log groups and streams that Amazon
    SageMaker AI sends to Amazon CloudWatch Logs",
    https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html): GetLogEvents is
    authorized on the stream, DescribeLogStreams on the group (Service Authorization Reference,
    "Actions defined by Amazon CloudWatch Logs"); only this platform's jobs' streams."""
    return _allow(
        sid,
        ["logs:DescribeLogStreams", "logs:GetLogEvents"],
        [log_group, f"{log_group}:log-stream:{prefix}-*"],
    )


def submitter_policy(
    scope: Construct,
    construct_id: str,
    *,
    orchestration: Stack,
    state_machine_arn: str,
    state_machine_name: str,
    ledger_table_arn: str,
    ledger_key: kms.IKey,
    artifacts_bucket: s3.IBucket,
    data_key: kms.IKey,
    job_name_prefix: str,
    team: str | None = None,
) -> iam.ManagedPolicy:
    """The policy of the module docstring (`team`: that team's). Long because it is one flat
    list: one statement per need of the CLI, each a line or a few, read top to bottom as the
    docstring lists them."""
    stack = Stack.of(scope)
    executions = Arn.format(
        ArnComponents(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        ),
        stack,
    )
    # Through the storage stack's named export when the bucket lives there (the real app), so the
    # cdk-nag acknowledgment can name the finding (training_stack.exported_arn).
    artifacts = (
        artifacts_bucket.bucket_arn
        if Stack.of(artifacts_bucket) is stack
        else exported_arn(artifacts_bucket, "ArtifactsBucketArn")
    )
    logs_head = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group"
    sagemaker_head = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
    prefix = team_names.resource_prefix(job_name_prefix, team)
    own = team_names.s3_prefix(team)
    jobs = team_names.jobs_prefix(team)
    region = stack.region
    ledger = [
        _allow(
            "ReadLedger",
            ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
            [ledger_table_arn, f"{ledger_table_arn}/index/*"],
        ),
        _key_through("ReadLedgerThroughDynamoDB", "kms:Decrypt", ledger_key, "dynamodb", region),
    ]
    team_only = (
        []
        if team is None
        else [
            _allow("ListExecutions", ["states:ListExecutions"], [state_machine_arn]),
            iam.PolicyStatement(
                sid="PassOwnExecutionRole",
                actions=["iam:PassRole"],
                resources=[
                    f"arn:{stack.partition}:iam::{stack.account}:role/"
                    + team_names.execution_role_name(job_name_prefix, team)
                ],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
        ]
    )
    return iam.ManagedPolicy(
        scope,
        construct_id,
        managed_policy_name=None
        if team is None
        else team_names.scientists_policy_name(job_name_prefix, team),
        description="dtrain: what `dtrain submit|status|logs|stop|list` needs, nothing more"
        + ("" if team is None else f" (team {team})"),
        statements=[
            _allow("ReadPlatformSettings", ["cloudformation:DescribeStacks"], [orchestration.stack_id]),
            _allow("StartExecutions", ["states:StartExecution"], [state_machine_arn]),
            _allow(
                "FollowAndStopExecutions",
                ["states:DescribeExecution", "states:StopExecution", "states:GetExecutionHistory"],
                [executions],
            ),
            # The source tarball, a spec's local processing script beside it, a deploy/transform
            # block's code.
            _allow(
                "UploadSource",
                ["s3:PutObject"],
                [
                    f"{artifacts}/{own}{p}"
                    for p in (SOURCE_TARBALL_PATTERN, PROCESSING_CODE_PATTERN, INFERENCE_CODE_PATTERN)
                ],
            ),
            _key_through("EncryptSourceThroughS3", "kms:GenerateDataKey", data_key, "s3", region),
            # Task tokens: no team's scientists read the ledger (the module docstring).
            *(ledger if team is None else team_only),
            *(_describe(sid, kinds, sagemaker_head, prefix) for sid, kinds in SCIENTIST_DESCRIBES.items()),
            _allow(
                "ReadModels",
                ["s3:GetObject"],
                [
                    f"{artifacts}/{jobs}/{prefix}-*/{model}"
                    for model in ("output/model.tar.gz", REPACKED_ARCHIVE)
                ],
            ),
            _key_through("DecryptModelsThroughS3", "kms:Decrypt", data_key, "s3", region),
            _allow(
                "InvokeEndpoints",
                ["sagemaker:InvokeEndpoint"],
                [f"{sagemaker_head}:{KINDS[ENDPOINT].arn_type}/{prefix}-*"],
            ),
            _read_log_streams("ReadTrainingLogs", f"{logs_head}:{SAGEMAKER_LOG_GROUP}", prefix),
            _read_log_streams("ReadProcessingLogs", f"{logs_head}:{SAGEMAKER_PROCESSING_LOG_GROUP}", prefix),
        ],
    )
