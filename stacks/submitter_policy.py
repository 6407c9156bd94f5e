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
"""

from __future__ import annotations

from aws_cdk import Arn, ArnComponents, ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dtrain.requests.inference_request import REPACKED_ARCHIVE
from stacks.storage_stack import JOBS_PREFIX
from stacks.training_stack import (
    INFERENCE_CODE_PATTERN,
    PROCESSING_CODE_PATTERN,
    SAGEMAKER_LOG_GROUP,
    SAGEMAKER_PROCESSING_LOG_GROUP,
    SOURCE_TARBALL_PATTERN,
    exported_arn,
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
) -> iam.ManagedPolicy:
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
    artifacts_arn = (
        artifacts_bucket.bucket_arn
        if Stack.of(artifacts_bucket) is stack
        else exported_arn(artifacts_bucket, "ArtifactsBucketArn")
    )
    logs_head = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group"
    log_group = f"{logs_head}:{SAGEMAKER_LOG_GROUP}"
    # SageMaker names a processing job's streams `<job>/<host>-<epoch>` ("Log groups and streams
    # that Amazon SageMaker AI sends to Amazon CloudWatch Logs",
    # https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html): GetLogEvents is
    # authorized on the stream, DescribeLogStreams on the group (Service Authorization Reference,
    # "Actions defined by Amazon CloudWatch Logs").
    processing_log_group = f"{logs_head}:{SAGEMAKER_PROCESSING_LOG_GROUP}"
    sagemaker_head = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
    prefix = job_name_prefix.lower()
    return iam.ManagedPolicy(
        scope,
        construct_id,
        description="dtrain: what `dtrain submit|status|logs|stop|list` needs, nothing more",
        statements=[
            iam.PolicyStatement(
                sid="ReadPlatformSettings",
                actions=["cloudformation:DescribeStacks"],
                resources=[orchestration.stack_id],
            ),
            iam.PolicyStatement(
                sid="StartExecutions", actions=["states:StartExecution"], resources=[state_machine_arn]
            ),
            iam.PolicyStatement(
                sid="FollowAndStopExecutions",
                actions=["states:DescribeExecution", "states:StopExecution", "states:GetExecutionHistory"],
                resources=[executions],
            ),
            iam.PolicyStatement(
                sid="UploadSource",
                actions=["s3:PutObject"],
                # and a spec's local processing script beside it
                resources=[
                    f"{artifacts_arn}/{SOURCE_TARBALL_PATTERN}",
                    f"{artifacts_arn}/{PROCESSING_CODE_PATTERN}",
                    f"{artifacts_arn}/{INFERENCE_CODE_PATTERN}",  # a deploy/transform block's code
                ],
            ),
            iam.PolicyStatement(
                sid="EncryptSourceThroughS3",
                actions=["kms:GenerateDataKey"],
                resources=[data_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="ReadLedger",
                actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
                resources=[ledger_table_arn, f"{ledger_table_arn}/index/*"],
            ),
            iam.PolicyStatement(
                sid="ReadLedgerThroughDynamoDB",
                actions=["kms:Decrypt"],
                resources=[ledger_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{stack.region}.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="DescribeJobs",
                actions=["sagemaker:DescribeTrainingJob"],
                resources=[f"{sagemaker_head}:training-job/{prefix}-*"],
            ),
            iam.PolicyStatement(
                sid="DescribeProcessingJobs",
                actions=["sagemaker:DescribeProcessingJob"],
                resources=[f"{sagemaker_head}:processing-job/{prefix}-*"],
            ),
            iam.PolicyStatement(
                sid="DescribeHostedResources",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DescribeTransformJob"],
                resources=[
                    f"{sagemaker_head}:endpoint/{prefix}-*",
                    f"{sagemaker_head}:transform-job/{prefix}-*",
                ],
            ),
            iam.PolicyStatement(
                sid="ReadModels",
                actions=["s3:GetObject"],
                resources=[
                    f"{artifacts_arn}/{JOBS_PREFIX}/{prefix}-*/output/model.tar.gz",
                    f"{artifacts_arn}/{JOBS_PREFIX}/{prefix}-*/{REPACKED_ARCHIVE}",
                ],
            ),
            iam.PolicyStatement(
                sid="DecryptModelsThroughS3",
                actions=["kms:Decrypt"],
                resources=[data_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="InvokeEndpoints",
                actions=["sagemaker:InvokeEndpoint"],
                resources=[f"{sagemaker_head}:endpoint/{prefix}-*"],
            ),
            iam.PolicyStatement(
                sid="ReadTrainingLogs",
                actions=["logs:DescribeLogStreams", "logs:GetLogEvents"],
                resources=[log_group, f"{log_group}:log-stream:{prefix}-*"],  # this platform's jobs
            ),
            iam.PolicyStatement(
                sid="ReadProcessingLogs",
                actions=["logs:DescribeLogStreams", "logs:GetLogEvents"],
                resources=[processing_log_group, f"{processing_log_group}:log-stream:{prefix}-*"],
            ),
        ],
    )
