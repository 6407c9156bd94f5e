"""After training: the Deploy / Transform callback states, their event rules, and the IAM that
lets the platform host a model on its prefix only (dtrain.orchestration.hosting)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template


@pytest.fixture(scope="module")
def orchestration(templates: dict[str, Template]) -> Template:
    return templates["orchestration"]


def _definition(orchestration: Template) -> dict[str, Any]:
    (machine,) = orchestration.find_resources("AWS::StepFunctions::StateMachine").values()
    body = machine["Properties"]["DefinitionString"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    # Tokens (function ARNs, the topic) are joined in; the states' shape is plain JSON around them.
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    return json.loads(text)  # type: ignore[no-any-return]


def test_finalize_leads_to_the_model_then_deploy_or_transform_each_waiting_on_its_callback(
    orchestration: Template,
) -> None:
    states = _definition(orchestration)["States"]
    assert states["Finalize"]["Next"] == "HostsModel" and states["RankSweep"]["Next"] == "HostsModel"
    hosts = states["HostsModel"]
    assert hosts["Choices"][0] == {"Variable": "$.plan.hosting", "IsPresent": True, "Next": "CreateModel"}
    assert hosts["Default"] == "Notify"
    assert states["CreateModel"]["Next"] == "DeployOrTransform"
    for name in ("Deploy", "Transform"):
        state = states[name]
        assert state["Resource"].endswith(":lambda:invoke.waitForTaskToken")
        assert state["TimeoutSecondsPath"] == "$.plan.hosting.timeout_seconds"
        assert state["Next"] == "FinalizeHosting"
        assert any("SageMakerTransient" in r["ErrorEquals"] for r in state["Retry"])
        assert state["Catch"][0]["Next"] == "DescribeFailure"
    assert states["FinalizeHosting"]["Next"] == "Notify"


def test_endpoint_and_transform_events_of_the_prefix_reach_the_job_events_lambda(
    orchestration: Template,
) -> None:
    orchestration.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Endpoint State Change"],
                "detail": {"EndpointName": [{"prefix": "dtrain-"}]},
            }
        },
    )
    orchestration.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Transform Job State Change"],
                "detail": {
                    "TransformJobStatus": ["Completed", "Failed", "Stopped"],
                    "TransformJobName": [{"prefix": "dtrain-"}],
                },
            }
        },
    )


def _statements(orchestration: Template) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in orchestration.find_resources("AWS::IAM::Policy").values():
        out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def _resource_text(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [json.dumps(r) for r in resources]


@pytest.mark.parametrize(
    ("action", "resource_type"),
    [
        ("sagemaker:CreateModel", "model"),
        ("sagemaker:CreateEndpointConfig", "endpoint-config"),
        ("sagemaker:CreateEndpoint", "endpoint"),
        ("sagemaker:UpdateEndpoint", "endpoint"),
        ("sagemaker:CreateTransformJob", "transform-job"),
        ("sagemaker:StopTransformJob", "transform-job"),
        ("sagemaker:DeleteEndpoint", "endpoint"),
        ("sagemaker:DescribeEndpoint", "endpoint"),
    ],
)
def test_every_hosting_action_is_scoped_to_the_platform_prefix(
    orchestration: Template, action: str, resource_type: str
) -> None:
    granting = [
        s
        for s in _statements(orchestration)
        if action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert granting, f"no statement grants {action}"
    resources = [r for statement in granting for r in _resource_text(statement)]
    # Every resource any grant of the action names is a SageMaker resource under the prefix,
    # and the action's own resource type is among them.
    assert all(":sagemaker:" in r and r.endswith('/dtrain-*"]]}') for r in resources), resources
    assert any(f":{resource_type}/dtrain-*" in r for r in resources), resources


def test_the_model_passes_only_the_execution_role_to_sagemaker(orchestration: Template) -> None:
    orchestration.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "iam:PassRole",
                                "Condition": {
                                    "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_the_execution_role_may_pull_the_inference_images_and_write_hosting_logs(
    templates: dict[str, Template],
) -> None:
    statements: list[dict[str, Any]] = []
    for policy in templates["training"].find_resources("AWS::IAM::Policy").values():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    by_sid = {s.get("Sid"): s for s in statements}
    pull = json.dumps(by_sid["PullInferenceImages"]["Resource"])
    assert "pytorch-inference" in pull and "tensorflow-inference" in pull
    # Issue 26, finding 13: the registry account is the deploying region's, looked up in AWS's
    # table (the stack is region-agnostic), not 763104351884 everywhere.
    assert '"Fn::FindInMap": ["DeepLearningContainerAccounts", {"Ref": "AWS::Region"}, "account"]' in pull
    mapping = templates["training"].to_json()["Mappings"]["DeepLearningContainerAccounts"]
    assert mapping["af-south-1"] == {"account": "626614931356"}
    assert mapping["us-east-1"] == {"account": "763104351884"}
    logs = json.dumps(by_sid["HostingLogs"]["Resource"])
    assert "/aws/sagemaker/Endpoints/*" in logs and "/aws/sagemaker/TransformJobs" in logs


def test_a_stack_with_an_explicit_region_grants_that_regions_dlc_account() -> None:
    """Issue 26, finding 13: af-south-1's Deep Learning Containers live in 626614931356."""
    from aws_cdk import App, Environment, Stack
    from aws_cdk import aws_iam as iam

    from dtrain.constructs.hosting_permissions import add_hosting_permissions

    stack = Stack(App(), "Hosting", env=Environment(account="111122223333", region="af-south-1"))
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    add_hosting_permissions(role)
    text = json.dumps(Template.from_stack(stack).to_json())
    assert ":626614931356:repository/pytorch-inference" in text and "763104351884" not in text


def test_the_ddp_image_is_built_on_the_deploying_regions_dlc_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 26, finding 13: the build arguments named us-east-1 whatever the region."""
    from aws_cdk import Aws

    from dtrain.constructs.training_stack import image_build_args

    assert image_build_args("ddp", "cn-north-1") == {
        "REGION": "cn-north-1",
        "DLC_ACCOUNT": "727897471807",
        "DLC_DNS_SUFFIX": "amazonaws.com.cn",
    }
    assert image_build_args("horovod", "cn-north-1") is None  # built FROM nvidia/cuda
    monkeypatch.setenv("CDK_DEFAULT_REGION", "me-south-1")
    assert image_build_args("ddp", Aws.REGION) == {
        "REGION": "me-south-1",
        "DLC_ACCOUNT": "217643126080",
        "DLC_DNS_SUFFIX": "amazonaws.com",
    }
    monkeypatch.delenv("CDK_DEFAULT_REGION")
    assert image_build_args("ddp", Aws.REGION) is None  # the Dockerfile's defaults


def test_the_ddp_dockerfile_takes_the_build_arguments_the_stack_passes() -> None:
    from pathlib import Path

    dockerfile = (Path(__file__).resolve().parents[2] / "training_code" / "ddp" / "Dockerfile").read_text()
    for name in ("REGION", "DLC_ACCOUNT", "DLC_DNS_SUFFIX"):
        assert f"ARG {name}=" in dockerfile and f"${{{name}}}" in dockerfile
