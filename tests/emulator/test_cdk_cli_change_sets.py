"""The CloudFormation calls the CDK CLI makes, as `cdk deploy` makes them against `dtrain emulate`
(dtrain.emulator.cdk_cli): a TemplateURL naming the emulator's own endpoint, CREATE change sets
whose outputs and exports the next stack imports, and a template referencing FSx (which moto
cannot create). Each failed before the hooks: "The specified bucket does not exist", then "No
export named ...", then "Fn::GetAtt references undefined resource". The real CLI run is
benchmarks/cdk_deploy_emulator.sh (about 2 minutes, too slow for the suite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from dtrain.emulator import cdk_cli

REGION = "us-east-1"
BUCKET = "cdk-hnb659fds-assets-123456789012-us-east-1"
# What aws-cdk's restUrlFromManifest builds with AWS_ENDPOINT_URL=http://127.0.0.1:<port>.
ENDPOINT = "http://127.0.0.1:4599"

PRODUCER = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}, "Export": {"Name": "Producer:QueueUrl"}}},
}
CONSUMER = {
    "Resources": {
        "Lustre": {"Type": "AWS::FSx::FileSystem", "Properties": {"FileSystemType": "LUSTRE"}},
        "Topic": {"Type": "AWS::SNS::Topic"},
    },
    "Outputs": {
        "Imported": {"Value": {"Fn::ImportValue": "Producer:QueueUrl"}},
        "MountName": {"Value": {"Fn::GetAtt": ["Lustre", "LustreMountName"]}},
    },
}


@pytest.fixture
def cfn(monkeypatch: pytest.MonkeyPatch, fake_credentials: None) -> Iterator[Any]:
    with mock_aws():
        cdk_cli.install(monkeypatch.setattr)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield boto3.client("cloudformation")


def _deploy_like_the_cli(cfn: Any, stack: str, template: dict[str, Any]) -> dict[str, str]:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=f"{stack}.json", Body=json.dumps(template).encode())
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName="cdk-deploy-change-set",
        ChangeSetType="CREATE",
        TemplateURL=f"{ENDPOINT}/{BUCKET}/{stack}.json",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cfn.execute_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
    (desc,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    assert desc["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}


def test_change_sets_from_the_emulator_url_create_stacks_that_import_each_others_exports(cfn: Any) -> None:
    produced = _deploy_like_the_cli(cfn, "Producer", PRODUCER)
    assert [e["Name"] for e in cfn.list_exports()["Exports"]] == ["Producer:QueueUrl"]
    consumed = _deploy_like_the_cli(cfn, "Consumer", CONSUMER)
    assert consumed["Imported"] == produced["QueueUrl"]
    assert consumed["MountName"]  # a placeholder (deploy.modelled_template), not a failed change set


def test_only_urls_off_aws_are_read_as_the_emulators_path_style() -> None:
    aws = f"https://s3.us-east-1.amazonaws.com/{BUCKET}/t.json"
    assert cdk_cli.as_moto_url(aws) == aws
    assert cdk_cli.as_moto_url(f"{ENDPOINT}/{BUCKET}/t.json") == f"http://localhost/{BUCKET}/t.json"


def test_a_change_set_name_is_answered_within_its_own_stack(cfn: Any) -> None:
    """Every stack's change set is `cdk-deploy-change-set`: DescribeChangeSet, ExecuteChangeSet and
    DeleteChangeSet by that name act on the stack named with it (moto 5.2.5 took the first match
    of the name in any stack, so `cdk deploy` polled another stack's old change set forever)."""
    _deploy_like_the_cli(cfn, "Producer", PRODUCER)
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="Other.json", Body=json.dumps(PRODUCER | {"Outputs": {}}).encode()
    )
    cfn.create_change_set(
        StackName="Other",
        ChangeSetName="cdk-deploy-change-set",
        ChangeSetType="CREATE",
        TemplateURL=f"{ENDPOINT}/{BUCKET}/Other.json",
    )
    for stack in ("Producer", "Other"):
        desc = cfn.describe_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
        assert desc["StackName"] == stack
    assert (
        cfn.describe_change_set(StackName="Other", ChangeSetName="cdk-deploy-change-set")["ExecutionStatus"]
        == "AVAILABLE"
    )
    cfn.execute_change_set(StackName="Other", ChangeSetName="cdk-deploy-change-set")
    (other,) = cfn.describe_stacks(StackName="Other")["Stacks"]
    assert other["StackStatus"] == "CREATE_COMPLETE"
    cfn.delete_change_set(StackName="Producer", ChangeSetName="cdk-deploy-change-set")
    assert (
        cfn.describe_change_set(StackName="Other", ChangeSetName="cdk-deploy-change-set")["StackName"]
        == "Other"
    )


def test_a_deleted_change_set_is_gone_from_its_stack_while_another_stack_has_its_name(cfn: Any) -> None:
    """A second `cdk deploy` deletes each stack's old `cdk-deploy-change-set` and waits for
    DescribeChangeSet to answer ChangeSetNotFound (aws-cdk waitForGone). With another stack's
    change set of that name still there, the emulator answered that one, so the CLI waited
    forever (and its DeleteChangeSet deleted the other stack's)."""
    _deploy_like_the_cli(cfn, "Producer", PRODUCER)
    _deploy_like_the_cli(cfn, "Consumer", CONSUMER)
    cfn.delete_change_set(StackName="Producer", ChangeSetName="cdk-deploy-change-set")
    with pytest.raises(cfn.exceptions.ChangeSetNotFoundException):
        cfn.describe_change_set(StackName="Producer", ChangeSetName="cdk-deploy-change-set")
    with pytest.raises(cfn.exceptions.ChangeSetNotFoundException):
        cfn.execute_change_set(StackName="Producer", ChangeSetName="cdk-deploy-change-set")
    cfn.delete_change_set(StackName="Producer", ChangeSetName="cdk-deploy-change-set")  # none: no-op
    kept = cfn.describe_change_set(StackName="Consumer", ChangeSetName="cdk-deploy-change-set")
    assert kept["StackName"] == "Consumer"


KEYED_LOGS = {
    "Resources": {
        "Key": {
            "Type": "AWS::KMS::Key",
            "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": []}, "Description": "rev 1"},
        },
        "Logs": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]},
                "Tags": [{"Key": "rev", "Value": "1"}],
            },
        },
        # A bucket CloudFormation names: moto's update read Properties.BucketName (KeyError, 500).
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "rev", "Value": "1"}]}},
        # A rule CloudFormation names: moto's update put it back under a new name, so the Lambda
        # permissions naming the old rule's ARN refused its events.
        "Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {"EventPattern": {"source": ["aws.sagemaker"]}, "Description": "rev 1"},
        },
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                "Tags": [{"Key": "rev", "Value": "1"}],
            },
        },
    }
}


def test_an_update_change_set_keeps_a_resource_moto_cannot_update(cfn: Any) -> None:
    """A second `cdk deploy` that changes a tag on every resource: moto has no update for a KMS
    key and stored None for it, so the log group's Fn::GetAtt of the key failed the update."""
    _deploy_like_the_cli(cfn, "Keyed", KEYED_LOGS)
    key_id = cfn.describe_stack_resource(StackName="Keyed", LogicalResourceId="Key")["StackResourceDetail"]
    before = {
        logical_id: cfn.describe_stack_resource(StackName="Keyed", LogicalResourceId=logical_id)[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
        for logical_id in ("Rule", "Role", "Bucket")
    }
    retagged = json.loads(json.dumps(KEYED_LOGS).replace('"1"', '"2"').replace("rev 1", "rev 2"))
    boto3.client("s3").put_object(Bucket=BUCKET, Key="Keyed2.json", Body=json.dumps(retagged).encode())
    cfn.delete_change_set(StackName="Keyed", ChangeSetName="cdk-deploy-change-set")
    cfn.create_change_set(
        StackName="Keyed",
        ChangeSetName="cdk-deploy-change-set",
        ChangeSetType="UPDATE",
        TemplateURL=f"{ENDPOINT}/{BUCKET}/Keyed2.json",
    )
    cfn.execute_change_set(StackName="Keyed", ChangeSetName="cdk-deploy-change-set")
    (desc,) = cfn.describe_stacks(StackName="Keyed")["Stacks"]
    assert desc["StackStatus"] == "UPDATE_COMPLETE"
    kept = cfn.describe_stack_resource(StackName="Keyed", LogicalResourceId="Key")
    assert kept["StackResourceDetail"]["PhysicalResourceId"] == key_id["PhysicalResourceId"]
    bucket = cfn.describe_stack_resource(StackName="Keyed", LogicalResourceId="Bucket")["StackResourceDetail"]
    tags = boto3.client("s3").get_bucket_tagging(Bucket=bucket["PhysicalResourceId"])["TagSet"]
    assert {"Key": "rev", "Value": "2"} in tags
    for logical_id in ("Rule", "Role", "Bucket"):  # in place: the name CloudFormation gave stays
        after = cfn.describe_stack_resource(StackName="Keyed", LogicalResourceId=logical_id)
        assert after["StackResourceDetail"]["PhysicalResourceId"] == before[logical_id]
