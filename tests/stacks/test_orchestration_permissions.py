"""Who may use the orchestration key and topic: the state machine's Notify states and the
CloudWatch alarms both publish to the SNS topic encrypted with the orchestration key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Match, Template

if TYPE_CHECKING:
    from aws_cdk import App

    from dtrain.constructs.orchestration_stack import OrchestrationStack
    from dtrain.constructs.synthesis import SynthesizedApp

ALARMS_OF_THIS_STACK = {
    "ArnLike": {
        "aws:SourceArn": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":cloudwatch:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    ":alarm:DtrainOrchestration-*",
                ],
            ]
        }
    },
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
}


@pytest.fixture(scope="module")
def stack(app: App, synthesized_app: SynthesizedApp) -> OrchestrationStack:
    from dtrain.constructs.orchestration_stack import OrchestrationStack

    found = app.node.find_child(f"{synthesized_app.platform.config.stack_prefix}Orchestration")
    assert isinstance(found, OrchestrationStack)
    return found


@pytest.fixture(scope="module")
def orchestration(templates: dict[str, Template]) -> Template:
    return templates["orchestration"]


def _logical_id(stack: OrchestrationStack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


def test_topic_is_encrypted_with_the_orchestration_key(
    orchestration: Template, stack: OrchestrationStack
) -> None:
    orchestration.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [_logical_id(stack, stack.key), "Arn"]}}
    )


def test_workflow_role_may_use_the_topic_key_only_through_sns(
    orchestration: Template, stack: OrchestrationStack
) -> None:
    # Notify and NotifyFailure (the catch path's end) publish with the state machine's role.
    role = stack.get_logical_id(stack.state_machine.role.node.default_child)  # type: ignore[arg-type]
    orchestration.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            "Effect": "Allow",
                            "Resource": {"Fn::GetAtt": [_logical_id(stack, stack.key), "Arn"]},
                            "Condition": {
                                "StringEquals": {
                                    "kms:ViaService": {
                                        "Fn::Join": ["", ["sns.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
                                    }
                                }
                            },
                        }
                    ]
                )
            },
        },
    )


def test_key_policy_delegates_to_iam_for_the_workflow_role(orchestration: Template) -> None:
    # The identity statement above only counts because the key policy delegates to the account.
    orchestration.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "kms:*",
                            "Effect": "Allow",
                            "Principal": {
                                "AWS": {
                                    "Fn::Join": [
                                        "",
                                        [
                                            "arn:",
                                            {"Ref": "AWS::Partition"},
                                            ":iam::",
                                            {"Ref": "AWS::AccountId"},
                                            ":root",
                                        ],
                                    ]
                                }
                            },
                            "Resource": "*",
                        }
                    ]
                )
            }
        },
    )


def test_key_policy_admits_cloudwatch_alarms_of_this_stack(orchestration: Template) -> None:
    orchestration.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "AlarmsOfThisStackEncryptNotifications",
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Resource": "*",
                            "Condition": ALARMS_OF_THIS_STACK,
                        }
                    ]
                )
            }
        },
    )


def test_topic_policy_lets_alarms_of_this_stack_publish_and_keeps_the_tls_deny(
    orchestration: Template, stack: OrchestrationStack
) -> None:
    topic = {"Ref": _logical_id(stack, stack.topic)}
    orchestration.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [topic],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Sid": "AllowPublishThroughSSLOnly",
                        "Action": "sns:Publish",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Resource": topic,
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                    {
                        "Sid": "AlarmsOfThisStackPublish",
                        "Action": "sns:Publish",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Resource": topic,
                        "Condition": ALARMS_OF_THIS_STACK,
                    },
                ]
            },
        },
    )


def test_every_alarm_is_named_inside_the_admitted_pattern_and_notifies_the_topic(
    template_dicts: dict[str, dict[str, Any]], stack: OrchestrationStack
) -> None:
    alarms = [
        r["Properties"]
        for r in template_dicts["orchestration"]["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert len(alarms) == 6
    for alarm in alarms:
        assert alarm["AlarmName"].startswith("DtrainOrchestration-"), alarm
        assert alarm["AlarmActions"] == [{"Ref": _logical_id(stack, stack.topic)}]
