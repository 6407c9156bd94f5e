"""Training stack: a least-privilege SageMaker execution role and the two packaged image assets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import cx_api
from aws_cdk.assertions import Template

from dtrain.constructs.platform import DtrainPlatform

# The only actions allowed on Resource "*", each because AWS offers no resource-level scoping.
STAR_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "fsx:DescribeFileSystems",
}


def role_statements(template: Template) -> list[dict[str, Any]]:
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_role_is_assumed_by_sagemaker_for_this_account_only(templates: dict[str, Template]) -> None:
    (role,) = templates["training"].find_resources("AWS::IAM::Role").values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role["Properties"]


def test_no_policy_in_the_platform_grants_pass_role(template_dicts: dict[str, dict[str, Any]]) -> None:
    for name in ("network", "storage", "training"):
        assert "iam:PassRole" not in json.dumps(template_dicts[name]), name
    for statement in role_statements(Template.from_json(template_dicts["training"])):
        assert not any(a in ("iam:*", "*") or a.startswith("iam:") for a in actions_of(statement))


def test_no_action_wildcards_in_the_execution_role(templates: dict[str, Template]) -> None:
    for statement in role_statements(templates["training"]):
        assert statement["Effect"] == "Allow"
        assert not any("*" in a for a in actions_of(statement)), statement


def test_star_resources_only_for_actions_aws_cannot_scope(templates: dict[str, Template]) -> None:
    star = [s for s in role_statements(templates["training"]) if s["Resource"] == "*"]
    assert star
    assert {a for s in star for a in actions_of(s)} <= STAR_ACTIONS
    for statement in star:
        if "ec2:CreateNetworkInterface" in actions_of(statement):
            assert "ec2:Vpc" in json.dumps(statement["Condition"])
        if "cloudwatch:PutMetricData" in actions_of(statement):
            assert statement["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}


def test_s3_access_is_read_for_data_and_scoped_write_for_jobs(templates: dict[str, Template]) -> None:
    by_sid = {s["Sid"]: s for s in role_statements(templates["training"]) if "Sid" in s}
    read = by_sid["ReadTrainingData"]
    assert actions_of(read) == ["s3:GetObject"]
    assert json.dumps(read["Resource"]).count("DataBucketArn") == 1
    write = by_sid["ReadWriteJobOutputAndCheckpoints"]
    assert sorted(actions_of(write)) == [
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
    ]
    resources = json.dumps(write["Resource"])
    assert "ArtifactsBucketArn" in resources and "CheckpointsBucketArn" in resources
    assert resources.count("/jobs/*") == 2
    assert by_sid["ListJobOutputAndCheckpoints"]["Condition"] == {
        "StringLike": {"s3:prefix": ["jobs", "jobs/*", "*/source/sourcedir.tar.gz", "*/source/processing/*"]}
    }
    sources = by_sid["ReadJobSourceTarballs"]
    assert actions_of(sources) == ["s3:GetObject"]
    # The source tarball and a spec's processing script (`dtrain submit` uploads both).
    endings = sorted(json.dumps(r).rsplit('"', 3)[-2] for r in sources["Resource"])
    assert endings == ["/*/source/processing/*", "/*/source/sourcedir.tar.gz"]


def test_kms_grants_only_for_aws_resources(templates: dict[str, Template]) -> None:
    by_sid = {s["Sid"]: s for s in role_statements(templates["training"]) if "Sid" in s}
    assert by_sid["KmsGrantsForTrainingVolumes"]["Condition"] == {
        "Bool": {"kms:GrantIsForAWSResource": "true"}
    }


def test_role_pulls_images_and_holds_no_efs_grant(templates: dict[str, Template]) -> None:
    actions = {a for s in role_statements(templates["training"]) for a in actions_of(s)}
    # SageMaker's EFS mount is anonymous NFS: an identity grant would never be evaluated.
    assert not any(a.startswith("elasticfilesystem:") for a in actions)
    assert {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"} <= actions


def docker_images(cloud_assembly: cx_api.CloudAssembly, platform: DtrainPlatform) -> list[dict[str, Any]]:
    manifest = Path(cloud_assembly.directory) / f"{platform.training.artifact_id}.assets.json"
    return list(json.loads(manifest.read_text())["dockerImages"].values())


def test_two_image_assets_built_from_training_code(
    cloud_assembly: cx_api.CloudAssembly, platform: DtrainPlatform
) -> None:
    images = docker_images(cloud_assembly, platform)
    assert sorted(i["source"]["dockerFile"] for i in images) == ["ddp/Dockerfile", "horovod/Dockerfile"]
    for image in images:
        assert image["source"]["platform"] == "linux/amd64"
    assert set(platform.training.image_uris) == {"ddp", "horovod"}


def test_image_build_context_is_training_code_without_tests_or_caches(
    cloud_assembly: cx_api.CloudAssembly, platform: DtrainPlatform
) -> None:
    for image in docker_images(cloud_assembly, platform):
        staged = Path(cloud_assembly.directory) / image["source"]["directory"]
        top = {p.name for p in staged.iterdir()}
        assert {"ddp", "horovod"} <= top
        names = {p.name for p in staged.rglob("*")}
        assert (
            "__pycache__" not in names and "tests" not in names and not any(n.endswith(".pyc") for n in names)
        )


def test_training_outputs_for_the_cli(templates: dict[str, Template]) -> None:
    outputs = templates["training"].find_outputs("*")
    assert {"ExecutionRoleArn", "DdpImageUri", "HorovodImageUri"} <= set(outputs)
