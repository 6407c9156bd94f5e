"""A second `cdk deploy` of the orchestration stack updates its state machine in place, as
CloudFormation does (no StateMachineName change: no replacement). The emulator creates state
machines in moto's executing backend (shims.create_sm) while moto's own CloudFormation update went
to its plain backend, so ExecuteChangeSet failed with StateMachineDoesNotExist (found by deploying
a platform team's app into `dtrain emulate` twice)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dtrain.emulator.fixtures import emulated_services
from dtrain.emulator.sagemaker import EventPlaybackBackend

REGION = "us-east-1"


def _template(rev: str) -> dict[str, Any]:
    trust = {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": rev, "End": True}}}
    return {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]}},
            },
            "Workflow": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                    "DefinitionString": json.dumps(definition),
                    "Tags": [{"Key": "rev", "Value": rev}],
                },
            },
        }
    }


@pytest.fixture
def cfn(monkeypatch: pytest.MonkeyPatch, fake_credentials: None) -> Iterator[Any]:
    with emulated_services(EventPlaybackBackend()):
        yield boto3.client("cloudformation")


def test_a_stack_update_updates_the_state_machine_in_place(cfn: Any) -> None:
    """UpdateStack takes the path ExecuteChangeSet takes (moto's parse_and_update_resource)."""
    cfn.create_stack(
        StackName="Orch", TemplateBody=json.dumps(_template("1")), Capabilities=["CAPABILITY_IAM"]
    )
    arn = cfn.describe_stack_resource(StackName="Orch", LogicalResourceId="Workflow")["StackResourceDetail"][
        "PhysicalResourceId"
    ]
    cfn.update_stack(
        StackName="Orch", TemplateBody=json.dumps(_template("2")), Capabilities=["CAPABILITY_IAM"]
    )
    assert cfn.describe_stacks(StackName="Orch")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    after = cfn.describe_stack_resource(StackName="Orch", LogicalResourceId="Workflow")["StackResourceDetail"]
    assert after["PhysicalResourceId"] == arn  # in place, not replaced
    sfn = boto3.client("stepfunctions")
    assert (
        json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])["States"]["P"]["Result"]
        == "2"
    )
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "rev", "value": "2"}]
