"""The scientists' least-privilege policy is part of the real app: a managed policy of the
orchestration stack, exported for the platform team to attach (stacks/submitter_policy.py).
What it allows is exercised by running the CLI under it (tests/cli/test_cli_submitter_policy.py)."""

from __future__ import annotations

from typing import Any


def _policy(template_dicts: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    resources = template_dicts["orchestration"]["Resources"]
    ((logical_id, policy),) = [(k, r) for k, r in resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    return logical_id, policy["Properties"]


def test_the_orchestration_stack_exports_the_submitter_policy(
    template_dicts: dict[str, dict[str, Any]],
) -> None:
    logical_id, props = _policy(template_dicts)
    outputs = template_dicts["orchestration"]["Outputs"]
    assert outputs["SubmitterPolicyArn"]["Value"] == {"Ref": logical_id}
    # Attached by the platform team to scientists' roles, not by the stack to anything.
    assert not any(props.get(k) for k in ("Roles", "Users", "Groups"))


def test_the_submitter_policy_grants_named_actions_only(template_dicts: dict[str, dict[str, Any]]) -> None:
    _, props = _policy(template_dicts)
    statements = props["PolicyDocument"]["Statement"]
    assert all(s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s for s in statements)
    actions = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not [a for a in actions if "*" in a]
    assert actions == {
        "cloudformation:DescribeStacks",
        "states:StartExecution",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:StopExecution",
        "s3:PutObject",
        "kms:GenerateDataKey",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "kms:Decrypt",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:DescribeEndpoint",  # issue 26 finding 10: status of deploy executions
        "sagemaker:DescribeTransformJob",
        "s3:GetObject",  # issue 29 finding 7: the platform's models
        "sagemaker:InvokeEndpoint",  # ... and its endpoints
        "logs:DescribeLogStreams",
        "logs:GetLogEvents",
    }
    upload = next(s for s in statements if s["Sid"] == "UploadSource")
    resources = upload["Resource"] if isinstance(upload["Resource"], list) else [upload["Resource"]]
    # Only the code `dtrain submit` uploads: the source tarball and a local processing script.
    assert sorted(r["Fn::Join"][1][-1] for r in resources) == [
        "/*/source/inference/sourcedir.tar.gz",
        "/*/source/processing/*",
        "/*/source/sourcedir.tar.gz",
    ]
    for sid, service in (
        ("EncryptSourceThroughS3", "s3."),
        ("DecryptModelsThroughS3", "s3."),
        ("ReadLedgerThroughDynamoDB", "dynamodb."),
    ):
        key_use = next(s for s in statements if s["Sid"] == sid)
        assert key_use["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Join"][1][0] == service


def _texts(statement: dict[str, Any]) -> list[str]:
    """A statement's resources as text, CloudFormation references shown as <ref>."""
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [
        r if isinstance(r, str) else "".join(p if isinstance(p, str) else "<ref>" for p in r["Fn::Join"][1])
        for r in resources
    ]


def test_processing_jobs_and_their_logs_are_readable_under_the_prefix_only(
    template_dicts: dict[str, dict[str, Any]],
) -> None:
    """Issue 17: `dtrain status` describes the processing step's job and `dtrain logs` reads its
    streams (<job>/<host>-<epoch> in /aws/sagemaker/ProcessingJobs), the platform's jobs only."""
    _, props = _policy(template_dicts)
    statements = {s["Sid"]: s for s in props["PolicyDocument"]["Statement"]}
    describe = statements["DescribeProcessingJobs"]
    assert describe["Action"] == "sagemaker:DescribeProcessingJob"
    assert _texts(describe) == ["arn:<ref>:sagemaker:<ref>:<ref>:processing-job/dtrain-*"]
    logs = statements["ReadProcessingLogs"]
    assert sorted(logs["Action"]) == ["logs:DescribeLogStreams", "logs:GetLogEvents"]
    assert _texts(logs) == [
        "arn:<ref>:logs:<ref>:<ref>:log-group:/aws/sagemaker/ProcessingJobs",
        "arn:<ref>:logs:<ref>:<ref>:log-group:/aws/sagemaker/ProcessingJobs:log-stream:dtrain-*",
    ]


def test_hosted_resources_are_describable_under_the_prefix_only(
    template_dicts: dict[str, dict[str, Any]],
) -> None:
    """Issue 26 finding 10: `dtrain status` and `submit --wait` of a deploy or transform
    execution call DescribeEndpoint / DescribeTransformJob, which the policy did not grant."""
    _, props = _policy(template_dicts)
    statements = {s["Sid"]: s for s in props["PolicyDocument"]["Statement"]}
    hosted = statements["DescribeHostedResources"]
    assert sorted(hosted["Action"]) == ["sagemaker:DescribeEndpoint", "sagemaker:DescribeTransformJob"]
    texts = _texts(hosted)
    assert [t.rsplit(":", 1)[-1] for t in texts] == ["endpoint/dtrain-*", "transform-job/dtrain-*"]


def test_models_and_endpoints_of_the_platform_are_readable_and_invocable_nothing_else(
    template_dicts: dict[str, dict[str, Any]],
) -> None:
    """Issue 29 finding 7: a scientist with only this policy could neither download a trained
    model.tar.gz nor invoke the endpoint their execution deployed."""
    _, props = _policy(template_dicts)
    statements = {s["Sid"]: s for s in props["PolicyDocument"]["Statement"]}
    assert sorted(t.split("/", 1)[1] for t in _texts(statements["ReadModels"])) == [
        "jobs/dtrain-*/model.tar.gz",
        "jobs/dtrain-*/output/model.tar.gz",
    ]
    assert statements["InvokeEndpoints"]["Action"] == "sagemaker:InvokeEndpoint"
    assert [t.rsplit(":", 1)[-1] for t in _texts(statements["InvokeEndpoints"])] == ["endpoint/dtrain-*"]
