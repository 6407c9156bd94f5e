"""What an emulated call means in IAM (dtrain.emulator.authz.calls): the checks AWS makes for
it, including those the service makes on the caller's behalf or as itself. Each case names the
AWS rule it follows; the mapper is pure, so a small stand-in for the platform state serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dtrain.emulator.authz.calls import SERVICE_CHECKED, Call, Check, checks_for, job_file_system_checks

ACCT = "123456789012"
REGION = "us-east-1"
KEY = f"arn:aws:kms:{REGION}:{ACCT}:key/ledger-key"
MACHINE = f"arn:aws:states:{REGION}:{ACCT}:stateMachine:Workflow"
MACHINE_ROLE = f"arn:aws:iam::{ACCT}:role/WorkflowRole"


@dataclass
class FakeState:
    tables: dict[str, str] = field(default_factory=lambda: {"Ledger": KEY})
    log_groups: dict[str, str] = field(default_factory=dict)

    def bucket_kms_key(self, name: str) -> str | None:
        return None

    def object_kms_key(self, bucket_name: str, key: str) -> str | None:
        return None

    def topic_kms_key(self, arn: str) -> str | None:
        return None

    def function(self, name_or_arn: str) -> Any | None:
        return None

    def key(self, key_id: str) -> tuple[str, Any] | None:
        return (KEY, {}) if key_id == KEY else None

    def state_machine_for_token(self, token: str) -> str | None:
        return MACHINE

    def state_machine_role(self, arn: str) -> str | None:
        return MACHINE_ROLE if arn == MACHINE else None

    def table_kms_key(self, name: str) -> str | None:
        return self.tables.get(name)

    def log_group_kms_key(self, name: str) -> str | None:
        return self.log_groups.get(name)


def checks(service: str, operation: str, state: FakeState | None = None, **params: Any) -> list[Check]:
    return checks_for(state or FakeState(), Call(service, operation, params, REGION, ACCT))


def test_dynamodb_on_a_cmk_table_decrypts_the_table_key_with_the_callers_permissions() -> None:
    # KMS Developer Guide, "How Amazon DynamoDB uses AWS KMS": kms:ViaService dynamodb.<region>.
    for op in ("GetItem", "PutItem", "UpdateItem", "Query", "Scan"):
        table_check, key_check = checks("dynamodb", op, TableName="Ledger")
        assert table_check.action == f"dynamodb:{op}"
        assert (key_check.action, key_check.resource, key_check.policy_kind) == ("kms:Decrypt", KEY, "key")
        assert ("kms:ViaService", f"dynamodb.{REGION}.amazonaws.com") in key_check.context
        assert ("kms:CallerAccount", ACCT) in key_check.context


def test_dynamodb_without_a_cmk_or_on_the_control_plane_asks_no_key() -> None:
    assert [c.action for c in checks("dynamodb", "GetItem", TableName="Other")] == ["dynamodb:GetItem"]
    assert [c.action for c in checks("dynamodb", "DescribeTable", TableName="Ledger")] == [
        "dynamodb:DescribeTable"
    ]


def test_dynamodb_batch_and_transactions_check_every_table_they_name() -> None:
    batch = checks("dynamodb", "BatchGetItem", RequestItems={"Ledger": {}, "Other": {}})
    assert [(c.action, c.resource.rsplit("/", 1)[-1]) for c in batch] == [
        ("dynamodb:BatchGetItem", "Ledger"),
        ("kms:Decrypt", "ledger-key"),
        ("dynamodb:BatchGetItem", "Other"),
    ]
    tx = checks("dynamodb", "TransactWriteItems", TransactItems=[{"Put": {"TableName": "Ledger"}}])
    assert [c.action for c in tx] == ["dynamodb:TransactWriteItems", "kms:Decrypt"]


def test_logs_with_a_kms_key_is_checked_against_the_key_policy_as_the_logs_service() -> None:
    # CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS".
    state = FakeState(log_groups={"/aws/sagemaker/TrainingJobs": KEY})
    put = checks(
        "logs", "PutLogEvents", state, logGroupName="/aws/sagemaker/TrainingJobs", logStreamName="job/algo-1"
    )
    assert put[0].service_principal == ""  # the caller's own logs:PutLogEvents
    (key_check,) = put[1:]
    assert (key_check.action, key_check.service_principal) == (
        "kms:GenerateDataKey",
        "logs.us-east-1.amazonaws.com",
    )
    group_arn = f"arn:aws:logs:{REGION}:{ACCT}:log-group:/aws/sagemaker/TrainingJobs"
    assert ("kms:EncryptionContext:aws:logs:arn", group_arn) in key_check.context
    created = checks("logs", "CreateLogGroup", logGroupName="g", kmsKeyId=KEY)
    assert [c.action for c in created[1:]] == ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
    assert ("logs", "PutLogEvents") in SERVICE_CHECKED


def test_start_execution_needs_the_state_machine_role_to_trust_step_functions() -> None:
    start, trust = checks("stepfunctions", "StartExecution", stateMachineArn=MACHINE, name="x", input="{}")
    assert (start.action, start.resource) == ("states:StartExecution", MACHINE)
    assert (trust.action, trust.resource, trust.policy_kind) == ("sts:AssumeRole", MACHINE_ROLE, "role")
    assert trust.service_principal == "states.amazonaws.com"
    assert ("aws:SourceArn", MACHINE) in trust.context
    assert ("stepfunctions", "StartExecution") in SERVICE_CHECKED


def test_create_state_machine_passes_its_role_to_step_functions() -> None:
    # Service Authorization Reference, Step Functions: CreateStateMachine -> iam:PassRole
    # with iam:PassedToService = states.amazonaws.com.
    out = checks("stepfunctions", "CreateStateMachine", name="W", definition="{}", roleArn=MACHINE_ROLE)
    passed = next(c for c in out if c.action == "iam:PassRole")
    assert passed.resource == MACHINE_ROLE
    assert ("iam:PassedToService", "states.amazonaws.com") in passed.context
    assert any(c.service_principal == "states.amazonaws.com" for c in out)


def test_sagemaker_calls_name_the_resource_they_act_on() -> None:
    def arn(kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{REGION}:{ACCT}:{kind}/{name}"

    endpoint = checks("sagemaker", "CreateEndpoint", EndpointName="Ep-1", EndpointConfigName="Cfg")
    assert [c.resource for c in endpoint] == [arn("endpoint", "ep-1")]
    transform = checks("sagemaker", "CreateTransformJob", TransformJobName="T", ModelName="M")
    assert transform[0].resource == arn("transform-job", "t")
    model = checks("sagemaker", "CreateModel", ModelName="M", ExecutionRoleArn=MACHINE_ROLE)
    assert [(c.action, c.resource) for c in model] == [
        ("sagemaker:CreateModel", arn("model", "m")),
        ("iam:PassRole", MACHINE_ROLE),
    ]
    processing = checks("sagemaker", "CreateProcessingJob", ProcessingJobName="P", RoleArn=MACHINE_ROLE)
    assert [c.action for c in processing] == ["sagemaker:CreateProcessingJob", "iam:PassRole"]
    tags = checks("sagemaker", "ListTags", ResourceArn=arn("training-job", "dtrain-x"))
    assert tags[0].resource == arn("training-job", "dtrain-x")
    invoke = checks("sagemaker-runtime", "InvokeEndpoint", EndpointName="Ep-1", Body=b"")
    assert (invoke[0].action, invoke[0].resource) == ("sagemaker:InvokeEndpoint", arn("endpoint", "ep-1"))


def test_efs_channels_are_mounted_through_the_file_system_policy() -> None:
    # EFS User Guide, "Using IAM to control file system data access": ClientMount, ClientWrite.
    request = {
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/k"}}},
            {
                "ChannelName": "ro",
                "DataSource": {
                    "FileSystemDataSource": {
                        "FileSystemId": "fs-1",
                        "FileSystemType": "EFS",
                        "FileSystemAccessMode": "ro",
                        "DirectoryPath": "/data",
                    }
                },
            },
            {
                "ChannelName": "rw",
                "DataSource": {
                    "FileSystemDataSource": {
                        "FileSystemId": "fs-2",
                        "FileSystemType": "EFS",
                        "FileSystemAccessMode": "rw",
                        "DirectoryPath": "/out",
                    }
                },
            },
        ]
    }
    out = job_file_system_checks(request, REGION, ACCT)
    assert [(c.action, c.policy_ref) for c in out] == [
        ("elasticfilesystem:ClientMount", "fs-1"),
        ("elasticfilesystem:ClientMount", "fs-2"),
        ("elasticfilesystem:ClientWrite", "fs-2"),
    ]
    assert all(("elasticfilesystem:AccessedViaMountTarget", "true") in c.context for c in out)
    assert out[0].resource == f"arn:aws:elasticfilesystem:{REGION}:{ACCT}:file-system/fs-1"
