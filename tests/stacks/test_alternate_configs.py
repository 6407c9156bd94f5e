"""Configurations other than cdk.json's defaults, each synthesized once (offline, no credentials)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from dtrain.constructs.synthesis import SynthesizedApp, synthesize

IMPORTED = {
    "account": "123456789012",
    "region": "eu-west-1",
    "emulator": True,
    "removal_policy": "destroy",
    "network.vpc_id": "vpc-0123456789abcdef0",
    "network.vpc_cidr": "172.31.0.0/16",
    "network.availability_zones": ["eu-west-1a", "eu-west-1b"],
    "network.private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "network.private_route_table_ids": ["rtb-0123456789abcdef0", "rtb-0123456789abcdef1"],
    "fsx.deployment_type": "SCRATCH_2",
    "fsx.storage_capacity_gib": 2400,
    "efs.enabled": False,
    # A platform bootstrapped with a qualifier of its own (issue 29 finding 8: the image pull
    # grant then names that bootstrap's repository, not every CDK app's default one).
    "@aws-cdk/core:bootstrapQualifier": "dtrainq",
}

EXPLICIT_ENV_NEW_VPC = {
    "stack_prefix": "Dev",  # a second platform in the account (test_a_second_platform_...)
    "account": "123456789012",
    "region": "us-west-2",
    "network.max_azs": 3,
    "network.availability_zones": ["us-west-2a", "us-west-2b", "us-west-2c"],
    "fsx.enabled": False,
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(IMPORTED, tmp_path_factory.mktemp("imported"))


@pytest.fixture(scope="module")
def explicit_env(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(EXPLICIT_ENV_NEW_VPC, tmp_path_factory.mktemp("explicit"))


def all_text(app: SynthesizedApp) -> str:
    return json.dumps(app.template_dicts)


@pytest.mark.slow
def test_imported_vpc_is_described_not_created(imported: SynthesizedApp) -> None:
    network = imported.templates["network"]
    network.resource_count_is("AWS::EC2::VPC", 0)
    network.resource_count_is("AWS::EC2::Subnet", 0)
    imported.templates["storage"].has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "VpcId": "vpc-0123456789abcdef0",
            "RouteTableIds": ["rtb-0123456789abcdef0", "rtb-0123456789abcdef1"],
        },
    )
    network.has_resource_properties(
        "AWS::EC2::FlowLog", {"ResourceId": "vpc-0123456789abcdef0", "ResourceType": "VPC"}
    )
    network.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupIngress": [
                {
                    "CidrIp": "172.31.0.0/16",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpProtocol": "tcp",
                    "Description": "HTTPS to AWS APIs from the VPC",
                }
            ]
        },
    )


@pytest.mark.slow
def test_emulator_mode_drops_the_bootstrap_version_rule(imported: SynthesizedApp) -> None:
    for template in imported.template_dicts.values():
        assert "CheckBootstrapVersion" not in template.get("Rules", {})
        assert "BootstrapVersion" not in template.get("Parameters", {})


@pytest.mark.slow
def test_default_synth_keeps_the_bootstrap_version_rule(template_dicts: dict[str, dict[str, Any]]) -> None:
    for template in template_dicts.values():
        assert "CheckBootstrapVersion" in template["Rules"]


@pytest.mark.slow
def test_scratch_lustre_links_s3_by_import_path_without_a_dra(imported: SynthesizedApp) -> None:
    storage = imported.templates["storage"]
    storage.resource_count_is("AWS::FSx::DataRepositoryAssociation", 0)
    (fs,) = storage.find_resources("AWS::FSx::FileSystem").values()
    lustre = fs["Properties"]["LustreConfiguration"]
    assert lustre["DeploymentType"] == "SCRATCH_2"
    assert "PerUnitStorageThroughput" not in lustre and "KmsKeyId" not in fs["Properties"]
    assert "s3://" in json.dumps(lustre["ImportPath"])
    assert fs["Properties"]["SubnetIds"] == ["subnet-0123456789abcdef0"]


@pytest.mark.slow
def test_destroy_policy_and_disabled_efs(imported: SynthesizedApp) -> None:
    storage = imported.templates["storage"]
    storage.resource_count_is("AWS::EFS::FileSystem", 0)
    for bucket in storage.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Delete"
    assert "EfsFileSystemId" not in storage.find_outputs("*")
    assert "elasticfilesystem:" not in json.dumps(imported.template_dicts["training"])


@pytest.mark.slow
def test_explicit_env_takes_zones_from_context(explicit_env: SynthesizedApp) -> None:
    subnets = explicit_env.templates["network"].find_resources("AWS::EC2::Subnet").values()
    assert sorted(s["Properties"]["AvailabilityZone"] for s in subnets) == [
        "us-west-2a",
        "us-west-2b",
        "us-west-2c",
    ]
    assert "Fn::GetAZs" not in all_text(explicit_env)
    # No lookups: the synth recorded no missing context (that would need credentials).
    manifest = json.loads((Path(explicit_env.outdir) / "manifest.json").read_text())
    assert "missing" not in manifest


@pytest.mark.slow
def test_disabled_fsx_drops_lustre_and_its_permissions(explicit_env: SynthesizedApp) -> None:
    explicit_env.templates["storage"].resource_count_is("AWS::FSx::FileSystem", 0)
    assert "fsx:DescribeFileSystems" not in json.dumps(explicit_env.template_dicts["training"])


@pytest.mark.slow
def test_emulator_mode_has_no_container_image_assets(imported: SynthesizedApp) -> None:
    # `cdk deploy` against `dtrain emulate` has no registry to push to (nor, often, Docker).
    for manifest in imported.outdir.glob("*.assets.json"):
        assert json.loads(manifest.read_text()).get("dockerImages", {}) == {}, manifest.name
    uris = imported.platform.training.image_uris
    assert set(uris) == {"ddp", "horovod"}
    assert "DdpImageUri" in imported.template_dicts["training"]["Outputs"]


@pytest.mark.slow
def test_an_imported_vpc_keeps_open_egress_and_the_qualifier_names_the_pulled_repository(
    imported: SynthesizedApp,
) -> None:
    # The imported VPC's routes are not ours to know (a NAT may serve package mirrors).
    network = imported.templates["network"]
    network.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "dtrain training instances: all traffic among members (NCCL/MPI/EFA) only",
            "SecurityGroupEgress": [
                {"CidrIp": "0.0.0.0/0", "IpProtocol": "-1", "Description": Match.any_value()}
            ],
        },
    )
    training = json.dumps(imported.template_dicts["training"])
    assert "cdk-dtrainq-container-assets-" in training and "cdk-hnb659fds-" not in training


def _iam_resources(template: dict[str, Any]) -> list[str]:
    """Every resource string of every IAM statement (policies, managed policies, roles)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Effect" in node and "Resource" in node:
                resources = node["Resource"] if isinstance(node["Resource"], list) else [node["Resource"]]
                found.extend(json.dumps(r) for r in resources)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(template)
    return found


@pytest.mark.slow
def test_a_second_platform_names_grants_and_watches_only_its_own_jobs(explicit_env: SynthesizedApp) -> None:
    """stack_prefix Dev: the job-name prefix `dev`, in the platform settings, every job grant of
    the orchestration, the scientists' policy, both log grants and the event rules; nothing of
    the default platform's `dtrain-` names."""
    assert explicit_env.platform.config.job_name_prefix == "dev"
    orchestration = explicit_env.template_dicts["orchestration"]
    settings = json.dumps(orchestration["Outputs"]["PlatformSettings"])
    assert re.search(r"job_name_prefix\W+dev\W", settings), settings[:300]
    resources = [
        r for name in ("orchestration", "training") for r in _iam_resources(explicit_env.template_dicts[name])
    ]
    assert not [r for r in resources if "dtrain-" in r]
    for kind in ("training-job", "processing-job", "endpoint", "transform-job"):
        assert any(f":{kind}/dev-*" in r for r in resources), kind
    logs = [r for r in resources if "/aws/sagemaker/TrainingJobs" in r]
    # The group itself (CreateLogGroup, DescribeLogStreams) or this platform's streams only.
    assert logs and not [r for r in logs if re.search(r"TrainingJobs:(?!log-stream:dev-\*)", r)]
    patterns = [
        json.dumps(rule["Properties"].get("EventPattern", {}))
        for rule in orchestration["Resources"].values()
        if rule["Type"] == "AWS::Events::Rule"
    ]
    job_rules = [p for p in patterns if "JobName" in p or "EndpointName" in p]
    assert len(job_rules) >= 4 and all('"prefix": "dev-"' in p for p in job_rules)
