"""OrchestrationStack: ledger, Lambdas, state machine, events, notifications, dashboard.

Takes the platform's resources as typed constructor arguments (from the network, storage and
training stacks, or stand-ins in tests) and turns them into the Lambdas' PlatformSettings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from dtrain.requests.inference_request import REPACKED_ARCHIVE
from stacks.orchestration.lambda_bundling import ARCHITECTURE as LAMBDA_ARCHITECTURE
from stacks.orchestration.lambda_bundling import RUNTIME as LAMBDA_RUNTIME
from stacks.orchestration.lambda_bundling import function_code
from stacks.orchestration.lambda_environment import (
    check_environment,
    metrics_namespace,
    observability_environment,
)
from stacks.orchestration.lambda_metrics import widgets as lambda_metric_widgets
from stacks.orchestration.nag import acknowledge_orchestration
from stacks.orchestration.sagemaker_metrics import search_expression
from stacks.orchestration.workflow import WorkflowTuning, build_definition
from stacks.submitter_policy import submitter_policy
from stacks.training_stack import INFERENCE_CODE_PATTERN, exported_arn

# dtrain.orchestration.events.ENDED_STATUSES (the stack does not import the Lambda code).
EXECUTION_ENDED_STATUSES = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")

JOB_STATE_CHANGE = "SageMaker Training Job State Change"
PROCESSING_JOB_STATE_CHANGE = "SageMaker Processing Job State Change"
# dtrain.orchestration.kinds: the events that answer the Deploy and Transform steps.
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
TRANSFORM_STATE_CHANGE = "SageMaker Transform Job State Change"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
LEDGER_GSI = "by_execution"
# The ledger calls of the Lambdas (dtrain.orchestration.ledger.Ledger), and the key actions
# CDK's Table.grant_read_write_data pairs with them for a customer-managed key.
LEDGER_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
LEDGER_KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
)
# X-Ray active tracing of the Lambdas; their Powertools Tracer follows it (observability_environment).
LAMBDA_TRACING = lambda_.Tracing.ACTIVE


@dataclass(frozen=True)
class OrchestrationOptions:
    job_name_prefix: str = "dtrain"
    notification_email: str | None = None
    jobs_in_vpc: bool = True
    wait_margin_s: int = 3600
    reconcile_every: Duration = field(default_factory=lambda: Duration.minutes(5))
    throttle_attempts: int = 8
    throttle_base_s: float = 0.5
    throttle_cap_s: float = 8.0
    tuning: WorkflowTuning = field(default_factory=WorkflowTuning)
    tags: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS


class OrchestrationStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str = "DtrainOrchestration",
        *,
        artifacts_bucket: s3.IBucket,
        checkpoints_bucket: s3.IBucket,
        data_key: kms.IKey,
        data_bucket: s3.IBucket | None = None,
        execution_role: iam.IRole,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        training_security_group: ec2.ISecurityGroup,
        image_uris: Mapping[str, str],
        fsx_id: str | None = None,
        fsx_mount_name: str | None = None,
        efs_id: str | None = None,
        output_prefix: str = "jobs",
        checkpoint_prefix: str = "jobs",
        options: OrchestrationOptions | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        opts = options or OrchestrationOptions()
        self.options = opts
        self.artifacts_bucket = artifacts_bucket
        prefix = opts.job_name_prefix

        # One key for everything this stack stores: ledger, topic, logs.
        self.key = kms.Key(
            self,
            "OrchestrationKey",
            enable_key_rotation=True,
            description="dtrain orchestration: job ledger, notifications, state machine logs",
            removal_policy=opts.removal_policy,
        )
        self._allow_own_log_groups_to_encrypt()

        self.ledger = ddb.Table(
            self,
            "JobLedger",
            partition_key=ddb.Attribute(name="job_name", type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            encryption=ddb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=opts.removal_policy,
        )
        self.ledger.add_global_secondary_index(
            index_name=LEDGER_GSI,
            partition_key=ddb.Attribute(name="execution_arn", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="created_at", type=ddb.AttributeType.STRING),
        )

        self.topic = sns.Topic(self, "Notifications", master_key=self.key, enforce_ssl=True)
        # The alarms below are named with this prefix, so the topic and key policies can name
        # exactly the alarms of this stack (a pattern: naming their ARNs would make the key
        # depend on alarms that depend on the topic that depends on the key).
        self.alarm_name_prefix = f"{self.stack_name}-"
        self._allow_alarms_to_notify()
        if opts.notification_email:
            self.topic.add_subscription(subs.EmailSubscription(opts.notification_email))

        platform_settings = {
            "region": self.region,
            "role_arn": execution_role.role_arn,
            # The execution role may write only under these prefixes (storage/training stacks).
            "output_s3_uri": f"s3://{artifacts_bucket.bucket_name}/{output_prefix}",
            "checkpoint_s3_uri": f"s3://{checkpoints_bucket.bucket_name}/{checkpoint_prefix}",
            "subnets": [s.subnet_id for s in subnets],
            "security_group_ids": [training_security_group.security_group_id],
            "jobs_in_vpc": opts.jobs_in_vpc,
            "image_uris": dict(image_uris),
            "fsx_id": fsx_id,
            "fsx_mount_name": fsx_mount_name,
            "efs_id": efs_id,
            "tags": dict(opts.tags),
            "environment": dict(opts.environment),
            "job_name_prefix": prefix,
            "volume_kms_key_id": data_key.key_arn,
            "output_kms_key_id": data_key.key_arn,
            # Read by the execution role: `{"s3": "data", ...}` channels resolve under it.
            "data_s3_uri": f"s3://{data_bucket.bucket_name}" if data_bucket is not None else None,
        }
        self.platform_json = self.to_json_string(platform_settings)
        # The settings as JSON with the tokens still in them: what check_environment measures.
        platform_estimate = json.dumps(platform_settings, separators=(",", ":"))
        self.metrics_namespace = metrics_namespace(self.stack_name)
        common_env = {
            "LEDGER_TABLE": self.ledger.table_name,
            **observability_environment(
                namespace=self.metrics_namespace, tracing_active=LAMBDA_TRACING == lambda_.Tracing.ACTIVE
            ),
        }

        submit_env = {
            **common_env,
            "DTRAIN_PLATFORM": self.platform_json,
            "DTRAIN_WAIT_MARGIN_S": str(opts.wait_margin_s),
            "DTRAIN_THROTTLE_ATTEMPTS": str(opts.throttle_attempts),
            "DTRAIN_THROTTLE_BASE_S": str(opts.throttle_base_s),
            "DTRAIN_THROTTLE_CAP_S": str(opts.throttle_cap_s),
        }
        self.submit_env_bytes = check_environment(
            "SubmitJob", {**submit_env, "DTRAIN_PLATFORM": platform_estimate}
        )
        self.submit_fn = self._function(
            "SubmitJob",
            "submit_job",
            timeout=Duration.minutes(2),  # DTRAIN_SUBMIT_GRACE_S below derives from it
            environment=submit_env,
        )
        self.job_events_fn = self._function("JobEvents", "job_events", environment=common_env)
        submit_timeout = Duration.minutes(2)
        self.reconcile_fn = self._function(
            "Reconcile",
            "reconcile",
            timeout=Duration.minutes(5),
            # A "Submitting" row older than Submit's timeout (plus a margin) has no live Submit.
            environment={**common_env, "DTRAIN_SUBMIT_GRACE_S": str(submit_timeout.to_seconds() + 60)},
        )
        # A 40-item sweep stops up to 40 jobs (StopTrainingJob and a ledger write each, retried by
        # botocore when throttled): 30 s was too tight (issue 26, risks). EventBridge retries a
        # failed invocation and Reconcile stops what an abort missed; the time only bounds the bill.
        self.abort_fn = self._function(
            "AbortJob", "abort_job", timeout=Duration.minutes(2), environment=common_env
        )
        # Finalize keeps each sweep job's full result in its ledger row and reads the rows back.
        self.finalize_fn = self._function("Finalize", "finalize", environment=common_env)
        for fn in (self.submit_fn, self.job_events_fn, self.reconcile_fn, self.abort_fn, self.finalize_fn):
            # What dtrain.orchestration.ledger calls, not grant_read_write_data: that also grants
            # the stream reads (dynamodb:GetRecords/GetShardIterator) of a table without a stream;
            # removing that statement broke nothing (benchmarks/policy_mutation.py).
            self.ledger.grant(fn, *LEDGER_ACTIONS)
            # DynamoDB uses the table's key with the caller's permissions (the same key grant
            # Table.grant_read_write_data adds; authz.calls._DYNAMODB_DATA).
            self.key.grant(fn, *LEDGER_KEY_ACTIONS)

        # -- IAM: SageMaker calls scoped to the platform's job-name prefix.
        job_arns = f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:training-job/{prefix}-*"
        self._allow(self.submit_fn, ["sagemaker:CreateTrainingJob", "sagemaker:AddTags"], job_arns)
        for fn in (self.submit_fn, self.reconcile_fn, self.finalize_fn):
            self._allow(fn, ["sagemaker:DescribeTrainingJob"], job_arns)
        self._allow(self.submit_fn, ["sagemaker:ListTags"], job_arns)
        # Abort (the execution-end event), Reconcile (the backstop) and Submit (a job created
        # after its execution ended) each stop jobs.
        for fn in (self.abort_fn, self.reconcile_fn, self.submit_fn):
            self._allow(fn, ["sagemaker:StopTrainingJob"], job_arns)
        # Processing jobs (the spec's `processing` step): the same calls, the same prefix.
        processing_arns = (
            f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:processing-job/{prefix}-*"
        )
        self._allow(
            self.submit_fn,
            ["sagemaker:CreateProcessingJob", "sagemaker:AddTags", "sagemaker:ListTags"],
            processing_arns,
        )
        for fn in (self.submit_fn, self.reconcile_fn):
            self._allow(fn, ["sagemaker:DescribeProcessingJob"], processing_arns)
        for fn in (self.abort_fn, self.reconcile_fn, self.submit_fn):
            self._allow(fn, ["sagemaker:StopProcessingJob"], processing_arns)
        self._allow_hosting(prefix)
        self.output_prefix = output_prefix
        self._allow_repack(artifacts_bucket, output_prefix, prefix, data_key)
        self.submit_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[execution_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # Jobs in the VPC: CreateTrainingJob checks the caller may use these network resources.
        self.submit_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"],
                # Describe* actions support no resource-level permissions: AWS requires "*".
                resources=["*"],
            )
        )
        # CreateTrainingJob checks the caller may let SageMaker create grants on the volume key
        # for the instances; only grants for an AWS resource (AWS KMS Developer Guide,
        # "kms:GrantIsForAWSResource": true when an integrated service creates the grant for
        # the caller, https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource).
        self.submit_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=[data_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        data_key.grant(self.submit_fn, "kms:DescribeKey")

        # -- state machine
        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            log_group_name=self.state_machine_log_group_name,
            encryption_key=self.key,
            retention=opts.log_retention,
            removal_policy=opts.removal_policy,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "TrainingWorkflow",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(
                build_definition(
                    Construct(self, "Workflow"),
                    submit_fn=self.submit_fn,
                    finalize_fn=self.finalize_fn,
                    topic=self.topic,
                    tuning=opts.tuning,
                )
            ),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group,
                level=sfn.LogLevel.ALL,
                # Payloads carry task tokens and whole specs: the history keeps them, logs do not.
                include_execution_data=False,
            ),
        )
        self._allow_workflow_to_notify()
        # Token answers and execution lookups: a separate policy, so the Lambdas do not depend
        # on the state machine that depends on them (no circular reference).
        executions = (
            f"arn:{self.partition}:states:{self.region}:{self.account}:execution:"
            f"{self.state_machine.state_machine_name}:*"
        )
        iam.Policy(
            self,
            "TaskTokenAnswers",
            roles=[fn.role for fn in (self.submit_fn, self.job_events_fn, self.reconcile_fn) if fn.role],
            statements=[
                iam.PolicyStatement(
                    actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                    resources=[self.state_machine.state_machine_arn],
                ),
                iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions]),
            ],
        )

        # -- events
        self.job_events_rule = events.Rule(
            self,
            "TrainingJobStateChange",
            description="SageMaker training jobs of this platform reached a terminal status",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[JOB_STATE_CHANGE],
                detail={
                    "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
                    "TrainingJobName": [{"prefix": f"{prefix}-"}],
                },
            ),
            targets=[targets.LambdaFunction(self.job_events_fn, retry_attempts=8)],
        )
        # Same Lambda for processing jobs: dtrain.orchestration.job_kinds tells the two apart.
        self.processing_events_rule = events.Rule(
            self,
            "ProcessingJobStateChange",
            description="SageMaker processing jobs of this platform reached a terminal status",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[PROCESSING_JOB_STATE_CHANGE],
                detail={
                    "ProcessingJobStatus": ["Completed", "Failed", "Stopped"],
                    "ProcessingJobName": [{"prefix": f"{prefix}-"}],
                },
            ),
            targets=[targets.LambdaFunction(self.job_events_fn, retry_attempts=8)],
        )
        self._hosting_event_rules(prefix)
        self.abort_rule = events.Rule(
            self,
            "ExecutionAbortedOrTimedOut",
            description="Stop the training jobs an execution leaves running, however it ended",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[EXECUTION_STATUS_CHANGE],
                detail={
                    # FAILED: a job created before Submit errored; SUCCEEDED: a sweep item whose
                    # Submit failed after creating its job. Reconcile stops what a lost event misses.
                    "status": list(EXECUTION_ENDED_STATUSES),
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
            targets=[targets.LambdaFunction(self.abort_fn, retry_attempts=8)],
        )
        self.reconcile_rule = events.Rule(
            self,
            "ReconcileSchedule",
            description="Close tokens of jobs whose state-change event was lost",
            schedule=events.Schedule.rate(opts.reconcile_every),
            targets=[targets.LambdaFunction(self.reconcile_fn)],
        )

        self._observability()
        # What a scientist needs to run the CLI against this platform: a managed policy the
        # platform team attaches to scientists' roles (stacks/submitter_policy.py, README).
        self.submitter_policy = submitter_policy(
            self,
            "SubmitterPolicy",
            orchestration=self,
            state_machine_arn=self.state_machine.state_machine_arn,
            state_machine_name=self.state_machine.state_machine_name,
            ledger_table_arn=self.ledger.table_arn,
            ledger_key=self.key,
            artifacts_bucket=artifacts_bucket,
            data_key=data_key,
            job_name_prefix=prefix,
        )
        acknowledge_orchestration(self)

        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "LedgerTableName", value=self.ledger.table_name)
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "PlatformSettings", value=self.platform_json)
        CfnOutput(self, "ArtifactsBucketName", value=artifacts_bucket.bucket_name)
        CfnOutput(
            self,
            "SubmitterPolicyArn",
            value=self.submitter_policy.managed_policy_arn,
            description="Attach to scientists' roles: what dtrain submit|status|list|logs|stop needs",
        )

    # ------------------------------------------------------------------------------------
    def _function(
        self,
        id_: str,
        folder: str,
        *,
        environment: Mapping[str, str],
        timeout: Duration | None = None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{id_}Logs",
            # Named under this stack's prefix: the key policy admits CloudWatch Logs for these
            # log groups only (_allow_own_log_groups_to_encrypt).
            log_group_name=f"{self.lambda_log_group_prefix}{id_}",
            retention=self.options.log_retention,
            encryption_key=self.key,
            removal_policy=self.options.removal_policy,
        )
        # Own role instead of AWSLambdaBasicExecutionRole: writes to its own log group only.
        role = iam.Role(
            self,
            f"{id_}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"dtrain orchestration Lambda {id_}",
        )
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            id_,
            role=role,
            # python3.13 with boto3/botocore vendored at the tested version (lambda_bundling).
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            handler="handler.handler",
            code=function_code(folder),
            timeout=timeout or Duration.seconds(30),
            memory_size=256,
            environment=dict(environment),
            # The stack's key, not Lambda's AWS-managed one: only principals the key policy
            # admits may read the settings (Lambda Developer Guide, "Securing Lambda environment
            # variables", https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html).
            environment_encryption=self.key,
            tracing=LAMBDA_TRACING,
            log_group=log_group,
        )

    @property
    def lambda_log_group_prefix(self) -> str:
        return f"/dtrain/{self.stack_name}/"

    @property
    def state_machine_log_group_name(self) -> str:
        # Vended-logs prefix: CloudWatch Logs then needs no resource-policy entry per log
        # group, whose 5,120-character policy fills up in accounts with many state machines
        # (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
        return f"/aws/vendedlogs/states/{self.stack_name}-TrainingWorkflow"

    def _allow_own_log_groups_to_encrypt(self) -> None:
        """CloudWatch Logs encrypts a log group with this key as logs.<region>.amazonaws.com,
        passing the group's ARN as encryption context; the key policy names this stack's log
        groups in kms:EncryptionContext:aws:logs:arn, so no other log group in the account may
        use the key (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS
        KMS", step 2 of "Create a KMS key", the condition "limits use of the key to the
        specified log group";
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
        head = f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:"
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LogsOfThisStackOnly",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            f"{head}{self.state_machine_log_group_name}",
                            f"{head}{self.lambda_log_group_prefix}*",
                        ]
                    }
                },
            )
        )

    def _allow_workflow_to_notify(self) -> None:
        """Notify and NotifyFailure (which the catch path also ends in) publish to a topic encrypted
        with `self.key`. SNS asks KMS for a data key with the publisher's own credentials, so the
        publisher needs kms:GenerateDataKey* and kms:Decrypt on the key besides sns:Publish (SNS
        Developer Guide, "Key management" > "Configuring AWS KMS permissions",
        https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#sns-what-permissions-for-sse);
        CDK's SnsPublish task grants only sns:Publish (aws-cdk issue 32303). The key policy's
        account statement delegates to IAM, so an identity statement is enough; kms:ViaService
        limits it to the calls SNS makes in this region for the role."""
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{self.region}.amazonaws.com"}},
            )
        )

    def _allow_alarms_to_notify(self) -> None:
        """CloudWatch alarm actions publish to the encrypted topic as cloudwatch.amazonaws.com:
        the topic policy must allow that principal sns:Publish (enforce_ssl's policy holds only a
        Deny), and the key policy must allow it kms:GenerateDataKey* and kms:Decrypt, or the
        alarm history shows "CloudWatch Alarms does not have authorization to access the SNS
        topic encryption key" and nothing is sent. Sources: SNS Developer Guide, "Key management"
        > "Enable compatibility between event sources from AWS services and encrypted topics"
        (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services);
        AWS re:Post knowledge center "cloudwatch-configure-alarm-sns" (key policy) and
        "cloudwatch-receive-sns-for-alarm-trigger" (topic policy, aws:SourceArn for chosen alarms).
        Both statements admit only alarms of this stack in this account (confused deputy)."""
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        alarms = (
            f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:{self.alarm_name_prefix}*"
        )
        conditions = {
            "ArnLike": {"aws:SourceArn": alarms},
            "StringEquals": {"aws:SourceAccount": self.account},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisStackPublish",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=conditions,
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisStackEncryptNotifications",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions=conditions,
            )
        )

    def _hosting_arns(self, resource_type: str, prefix: str) -> str:
        # SageMaker ARNs carry resource names in lower case (so does submitter_policy).
        return (
            f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:{resource_type}/{prefix.lower()}-*"
        )

    def _allow_repack(
        self, artifacts_bucket: s3.IBucket, output_prefix: str, prefix: str, data_key: kms.IKey
    ) -> None:
        """The `model` phase repacks a trained model with a block's own inference code
        (dtrain.orchestration.model_repack): it reads the trained model.tar.gz (under the output
        prefix) and the code `dtrain submit` uploaded, lists the output prefix (to tell a missing
        repacked archive from a denied one: HeadObject answers 403 without s3:ListBucket) and
        writes `<output prefix>/<model>/model.tar.gz` (the model is named after its training
        job, on this platform's prefix). Objects are encrypted with the data key, through S3."""
        # Through the storage stack's named export (training_stack.exported_arn), so that the
        # cdk-nag acknowledgments (stacks/orchestration/nag.py) can name the findings.
        bucket = (
            artifacts_bucket.bucket_arn
            if Stack.of(artifacts_bucket) is self
            else exported_arn(artifacts_bucket, "ArtifactsBucketArn")
        )
        self.submit_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    f"{bucket}/{output_prefix}/{prefix}-*/output/model.tar.gz",
                    f"{bucket}/{output_prefix}/{prefix}-*/{REPACKED_ARCHIVE}",
                    f"{bucket}/{INFERENCE_CODE_PATTERN}",
                ],
            )
        )
        self.submit_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[f"{bucket}/{output_prefix}/{prefix}-*/{REPACKED_ARCHIVE}"],
            )
        )
        self.submit_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket],
                conditions={"StringLike": {"s3:prefix": [f"{output_prefix}/{prefix}-*"]}},
            )
        )
        data_key.grant(self.submit_fn, "kms:Decrypt", "kms:GenerateDataKey")

    def _allow_hosting(self, prefix: str) -> None:
        """After training (dtrain.orchestration.hosting): Submit creates the model and the endpoint
        (or updates it with a new config) or the transform job; Finalize, Reconcile and Abort
        describe them; Abort and Reconcile stop a transform job, Reconcile deletes an endpoint its
        execution was creating when it ended, and Submit deletes a Failed endpoint it deploys to.
        All on this platform's prefix only.
        Actions and resource types: Service Authorization Reference, "Actions defined by Amazon
        SageMaker AI" (CreateModel: model; CreateEndpointConfig: endpoint-config; CreateEndpoint /
        UpdateEndpoint: endpoint and endpoint-config; CreateTransformJob: transform-job and model)."""
        model = self._hosting_arns("model", prefix)
        config = self._hosting_arns("endpoint-config", prefix)
        endpoint = self._hosting_arns("endpoint", prefix)
        transform = self._hosting_arns("transform-job", prefix)
        submit = self.submit_fn
        submit.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateModel", "sagemaker:DescribeModel"], resources=[model]
            )
        )
        submit.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig"],
                resources=[config],
            )
        )
        submit.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"], resources=[endpoint, config]
            )
        )
        # A Failed endpoint of the deploy's name: DeleteEndpoint is the only operation SageMaker
        # accepts on it, and Deploy creates the endpoint again once it is gone (issue 26 finding 2).
        submit.add_to_role_policy(
            iam.PolicyStatement(actions=["sagemaker:DeleteEndpoint"], resources=[endpoint])
        )
        submit.add_to_role_policy(
            iam.PolicyStatement(actions=["sagemaker:CreateTransformJob"], resources=[transform, model])
        )
        # The ownership tag goes on at create (AddTags with Create*), read back to adopt on retry.
        submit.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:AddTags", "sagemaker:ListTags"],
                resources=[model, config, endpoint, transform],
            )
        )
        for fn in (submit, self.reconcile_fn, self.finalize_fn, self.abort_fn):
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:DescribeEndpoint", "sagemaker:DescribeTransformJob"],
                    resources=[endpoint, transform],
                )
            )
        # Not Submit: its hosting phases never stop what they create (only a training or
        # processing job created after its execution ended, dtrain.orchestration.submit; the
        # policy-mutation benchmark found Submit's copy of this statement unused).
        # Abort stops a transform job; an endpoint still Creating cannot be deleted then
        # (SageMaker refuses DeleteEndpoint), so Reconcile deletes it once it can
        # (dtrain.orchestration.kinds): only Reconcile deletes endpoints.
        self.abort_fn.add_to_role_policy(
            iam.PolicyStatement(actions=["sagemaker:StopTransformJob"], resources=[transform])
        )
        self.reconcile_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:StopTransformJob", "sagemaker:DeleteEndpoint"],
                resources=[transform, endpoint],
            )
        )

    def _hosting_event_rules(self, prefix: str) -> None:
        """The Deploy and Transform steps' answers, to the same JobEvents Lambda as training's."""
        self.endpoint_events_rule = events.Rule(
            self,
            "EndpointStateChange",
            description="Endpoints of this platform changed status (InService, Failed, ...)",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[ENDPOINT_STATE_CHANGE],
                detail={"EndpointName": [{"prefix": f"{prefix}-"}]},
            ),
            targets=[targets.LambdaFunction(self.job_events_fn, retry_attempts=8)],
        )
        self.transform_events_rule = events.Rule(
            self,
            "TransformJobStateChange",
            description="Transform jobs of this platform reached a terminal status",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[TRANSFORM_STATE_CHANGE],
                detail={
                    "TransformJobStatus": ["Completed", "Failed", "Stopped"],
                    "TransformJobName": [{"prefix": f"{prefix}-"}],
                },
            ),
            targets=[targets.LambdaFunction(self.job_events_fn, retry_attempts=8)],
        )

    @staticmethod
    def _allow(fn: lambda_.Function, actions: list[str], resource: str) -> None:
        fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))

    def _observability(self) -> None:
        sm = self.state_machine
        alarm_action = cw_actions.SnsAction(self.topic)
        failed = cw.Alarm(
            self,
            "ExecutionsFailed",
            metric=sm.metric_failed(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description="A training execution failed",
            alarm_name=f"{self.alarm_name_prefix}ExecutionsFailed",
        )
        failed.add_alarm_action(alarm_action)
        fns = {
            "Submit": self.submit_fn,
            "JobEvents": self.job_events_fn,
            "Reconcile": self.reconcile_fn,
            "Abort": self.abort_fn,
            "Finalize": self.finalize_fn,
        }
        for name, fn in fns.items():
            alarm = cw.Alarm(
                self,
                f"{name}Errors",
                metric=fn.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"The {name} Lambda raised errors",
                alarm_name=f"{self.alarm_name_prefix}{name}Errors",
            )
            alarm.add_alarm_action(alarm_action)
        prefix = self.options.job_name_prefix

        def search(metric_name: str, stat: str, label: str) -> cw.MathExpression:
            # Jobs come and go: SEARCH finds every series of this platform's jobs, in the
            # namespace and dimension SageMaker publishes them under (sagemaker_metrics).
            return cw.MathExpression(
                expression=search_expression(metric_name, prefix, stat, 300),
                label=label,
                period=Duration.minutes(5),
            )

        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{self.stack_name}-training")
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Executions",
                left=[
                    sm.metric_started(statistic="Sum"),
                    sm.metric_succeeded(statistic="Sum"),
                    sm.metric_failed(statistic="Sum"),
                    sm.metric_aborted(statistic="Sum"),
                ],
            ),
            cw.GraphWidget(
                title="Execution duration (job durations)", left=[sm.metric_time(statistic="Average")]
            ),
            cw.GraphWidget(
                title="Lambda errors", left=[fn.metric_errors(statistic="Sum") for fn in fns.values()]
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="GPU utilization (running jobs)", left=[search("GPUUtilization", "Average", "GPU %")]
            ),
            cw.GraphWidget(
                title="Training metrics (metric definitions)",
                left=[
                    search("train:loss", "Average", "train:loss"),
                    search("validation:accuracy", "Average", "validation:accuracy"),
                ],
                right=[search("train:throughput", "Average", "samples/s")],
            ),
        )
        # The Lambdas' EMF metrics (stacks/orchestration/lambda_metrics.py).
        dashboard.add_widgets(*lambda_metric_widgets(self.metrics_namespace))
