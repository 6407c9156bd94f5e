"""Updates, rollbacks and deletes of stacks in the emulator as CloudFormation does them
(dtrain.emulator.stack_updates), driven with the calls the CDK CLI makes (change sets, then
DeleteStack). Each case failed on moto 5.2.5's own update: removed resources deleted first,
no replacement, an HTTP 500 and a half-changed stack on a failed resource, DELETE_COMPLETE with
a non-empty bucket left behind, and buckets re-created by describing the deleted stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from dtrain.emulator import cdk_cli

REGION = "us-east-1"


@pytest.fixture
def cfn(monkeypatch: pytest.MonkeyPatch, fake_credentials: None) -> Iterator[Any]:
    with mock_aws():
        cdk_cli.install(monkeypatch.setattr)
        yield boto3.client("cloudformation")


def _deploy(cfn: Any, stack: str, template: dict[str, Any], kind: str) -> dict[str, Any]:
    """One `cdk deploy` of `stack`: its change set created and executed; the stack described."""
    if kind == "UPDATE":
        cfn.delete_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName="cdk-deploy-change-set",
        ChangeSetType=kind,
        TemplateBody=json.dumps(template),
    )
    cfn.execute_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
    (desc,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    return dict(desc)


def _physical(cfn: Any, stack: str) -> dict[str, str]:
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
    }


def _queue(name: str | None = None, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"Tags": [{"Key": "rev", "Value": "1"}], **extra}
    if name:
        props["QueueName"] = name
    return {"Type": "AWS::SQS::Queue", "Properties": props}


def _buckets() -> set[str]:
    return {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}


V1 = {
    "Resources": {
        "Kept": _queue(VisibilityTimeout=30),
        "Renamed": _queue("jobs-v1"),
        "Dropped": _queue(),
        "Logs": {"Type": "AWS::S3::Bucket"},
    },
    "Outputs": {"RenamedUrl": {"Value": {"Ref": "Renamed"}}},
}
# A platform team's second deploy: one tag changed, a queue renamed (QueueName: Replacement),
# one queue removed, one added that refers to the renamed one.
V2 = {
    "Resources": {
        "Kept": _queue(VisibilityTimeout=90),
        "Renamed": _queue("jobs-v2"),
        "Added": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/platform/jobs", "Type": "String", "Value": {"Ref": "Renamed"}},
        },
        "Logs": {"Type": "AWS::S3::Bucket"},
    },
    "Outputs": {"RenamedUrl": {"Value": {"Ref": "Renamed"}}},
}


def test_an_update_changes_adds_replaces_and_removes_resources(cfn: Any) -> None:
    _deploy(cfn, "Platform", V1, "CREATE")
    before = _physical(cfn, "Platform")
    desc = _deploy(cfn, "Platform", V2, "UPDATE")
    assert desc["StackStatus"] == "UPDATE_COMPLETE"
    after = _physical(cfn, "Platform")
    assert set(after) == {"Kept", "Renamed", "Added", "Logs"}
    assert after["Kept"] == before["Kept"]  # in place
    assert after["Renamed"] != before["Renamed"] and after["Renamed"].endswith("/jobs-v2")
    sqs = boto3.client("sqs")
    urls = sqs.list_queues().get("QueueUrls", [])
    assert before["Renamed"] not in urls and before["Dropped"] not in urls  # cleaned up
    kept = sqs.get_queue_attributes(QueueUrl=after["Kept"], AttributeNames=["VisibilityTimeout"])
    assert kept["Attributes"]["VisibilityTimeout"] == "90"
    param = boto3.client("ssm").get_parameter(Name=after["Added"])["Parameter"]
    assert param["Value"] == after["Renamed"]  # the added one saw the replacement
    assert desc["Outputs"][0]["OutputValue"] == after["Renamed"]


def test_a_resource_that_refers_to_a_replaced_one_is_updated_to_it(cfn: Any) -> None:
    v1 = {
        "Resources": {
            "Queue": _queue("work-v1"),
            "Pointer": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/pointing/queue", "Type": "String", "Value": {"Ref": "Queue"}},
            },
        }
    }
    _deploy(cfn, "Pointing", v1, "CREATE")
    v2 = json.loads(json.dumps(v1).replace("work-v1", "work-v2"))
    _deploy(cfn, "Pointing", v2, "UPDATE")
    after = _physical(cfn, "Pointing")
    param = boto3.client("ssm").get_parameter(Name=after["Pointer"])["Parameter"]
    assert param["Value"] == after["Queue"] and param["Value"].endswith("/work-v2")


def test_a_removed_resource_with_deletion_policy_retain_is_kept(cfn: Any) -> None:
    v1 = {"Resources": {"Data": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"}, "Q": _queue()}}
    _deploy(cfn, "Retaining", v1, "CREATE")
    bucket = _physical(cfn, "Retaining")["Data"]
    _deploy(cfn, "Retaining", {"Resources": {"Q": _queue()}}, "UPDATE")
    assert bucket in _buckets()
    assert set(_physical(cfn, "Retaining")) == {"Q"}


def test_a_failed_update_rolls_back_to_the_previous_template(cfn: Any) -> None:
    """The added bucket's name is taken: the update fails and everything is as before."""
    boto3.client("s3").create_bucket(Bucket="taken-name")
    _deploy(cfn, "Platform", V1, "CREATE")
    before = _physical(cfn, "Platform")
    failing = json.loads(json.dumps(V2))
    failing["Resources"]["Clash"] = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "taken-name"}}
    failing["Resources"]["Clash"]["DependsOn"] = ["Added", "Renamed"]  # fails after the others
    desc = _deploy(cfn, "Platform", failing, "UPDATE")
    assert desc["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert _physical(cfn, "Platform") == before  # the replaced queue and the dropped one are back
    urls = boto3.client("sqs").list_queues()["QueueUrls"]
    assert sorted(urls) == sorted(before[n] for n in ("Kept", "Renamed", "Dropped"))  # none added
    assert boto3.client("ssm").describe_parameters()["Parameters"] == []
    assert json.loads(json.dumps(cfn.get_template(StackName="Platform")["TemplateBody"])) == V1
    events = cfn.describe_stack_events(StackName="Platform")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Clash"]
    assert "bucket name is not available" in failed[0]["ResourceStatusReason"]
    kept = boto3.client("sqs").get_queue_attributes(
        QueueUrl=before["Kept"], AttributeNames=["VisibilityTimeout"]
    )
    assert kept["Attributes"]["VisibilityTimeout"] == "30"  # updated, then given its old value back
    assert desc["Outputs"][0]["OutputValue"] == before["Renamed"]
    # The rolled-back stack takes the next (good) update.
    assert _deploy(cfn, "Platform", V2, "UPDATE")["StackStatus"] == "UPDATE_COMPLETE"


def test_a_failed_create_rolls_back_and_leaves_nothing(cfn: Any) -> None:
    boto3.client("s3").create_bucket(Bucket="taken-name")
    template = {
        "Resources": {
            "Q": _queue(),
            "Clash": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"BucketName": "taken-name"},
                "DependsOn": "Q",
            },
        },
        "Outputs": {"Url": {"Value": {"Ref": "Q"}, "Export": {"Name": "Failed:Url"}}},
    }
    desc = _deploy(cfn, "Failed", template, "CREATE")
    assert desc["StackStatus"] == "ROLLBACK_COMPLETE"
    assert boto3.client("sqs").list_queues().get("QueueUrls", []) == []
    assert cfn.list_exports()["Exports"] == []


def test_destroying_a_stack_with_a_non_empty_bucket_fails_and_keeps_it(cfn: Any) -> None:
    template = {
        "Resources": {
            "Data": {"Type": "AWS::S3::Bucket"},
            "Logs": {"Type": "AWS::S3::Bucket"},
            "Q": _queue(),
        },
        "Outputs": {
            "Bucket": {"Value": {"Ref": "Data"}, "Export": {"Name": "Data:Bucket"}},
            "LogBucket": {"Value": {"Ref": "Logs"}},
        },
    }
    _deploy(cfn, "Storage", template, "CREATE")
    bucket = _physical(cfn, "Storage")["Data"]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="dataset/part-0", Body=b"x")
    cfn.delete_stack(StackName="Storage")
    (desc,) = cfn.describe_stacks(StackName="Storage")["Stacks"]
    assert desc["StackStatus"] == "DELETE_FAILED"
    logs = next(o["OutputValue"] for o in desc["Outputs"] if o["OutputKey"] == "LogBucket")
    assert set(_physical(cfn, "Storage")) == {"Data"}  # the empty bucket and the queue went
    assert _buckets() == {bucket}  # describing the failed stack made no new bucket for Logs
    assert logs not in _buckets()
    assert [e["Name"] for e in cfn.list_exports()["Exports"]] == ["Data:Bucket"]
    failed = [
        e
        for e in cfn.describe_stack_events(StackName="Storage")["StackEvents"]
        if e["ResourceStatus"] == "DELETE_FAILED" and e["LogicalResourceId"] != "Storage"
    ]
    assert [e["LogicalResourceId"] for e in failed] == ["Data"]
    assert "not empty" in failed[0]["ResourceStatusReason"]
    # Emptied, the bucket goes with the stack, and describing the deleted stack makes no bucket.
    s3.delete_object(Bucket=bucket, Key="dataset/part-0")
    stack_id = desc["StackId"]
    cfn.delete_stack(StackName="Storage")
    (gone,) = cfn.describe_stacks(StackName=stack_id)["Stacks"]
    assert gone["StackStatus"] == "DELETE_COMPLETE"
    cfn.describe_stack_resources(StackName=stack_id)
    assert _buckets() == set()
