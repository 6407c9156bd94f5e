"""The team's assertion tests on its own app: dtrain's stacks run in the team's VPC, read its
existing bucket, leave out what the team already runs, and keep the team's context keys its own."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk.assertions import Match, Template


def template(stack: Stack) -> Template:
    return Template.from_stack(stack)


def test_dtrain_runs_in_the_team_vpc_and_adds_none_of_its_own(team_app: Any) -> None:
    network = template(team_app.platform.network)
    network.resource_count_is("AWS::EC2::VPC", 0)
    # The training security group and the interface endpoints sit in the team's VPC (imported
    # from the team's stack).
    network.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": Match.string_like_regexp("dtrain training"),
            "VpcId": {"Fn::ImportValue": Match.any_value()},
        },
    )
    network.resource_count_is("AWS::EC2::VPCEndpoint", 7)


def test_the_team_keeps_its_own_flow_log_and_s3_gateway_endpoint(team_app: Any) -> None:
    team = template(team_app.network)
    team.resource_count_is("AWS::EC2::FlowLog", 1)
    team.resource_properties_count_is("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"}, 1)
    for stack in team_app.platform.stacks:
        dtrain_template = template(stack)
        dtrain_template.resource_count_is("AWS::EC2::FlowLog", 0)
        dtrain_template.resource_properties_count_is(
            "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"}, 0
        )


def test_jobs_read_the_existing_data_bucket_and_write_to_dtrain_buckets(team_app: Any) -> None:
    storage = template(team_app.platform.storage)
    # Artifacts and checkpoints (KMS, versioned) and their access-log bucket; no data bucket.
    storage.resource_count_is("AWS::S3::Bucket", 3)
    storage.has_output("DataBucketName", {"Value": "acme-ml-datasets"})
    training = template(team_app.platform.training)
    training.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Sid": "ReadTrainingData", "Action": Match.any_value()})]
                )
            }
        },
    )


def test_settings_come_from_the_dtrain_namespace_and_team_keys_stay_the_teams(team_app: Any) -> None:
    config = team_app.platform.config
    assert config.stack_prefix == "AcmeMl"
    assert config.job_name_prefix == "acmeml"
    assert not config.fsx.enabled and not config.network.flow_logs
    assert team_app.app.node.try_get_context("team:cost-center") == "ml-42"
    names = {stack.stack_name for stack in team_app.platform.stacks}
    assert names == {"AcmeMlNetwork", "AcmeMlStorage", "AcmeMlTraining", "AcmeMlOrchestration"}


def test_the_platform_is_one_construct_whose_children_are_its_stacks(team_app: Any) -> None:
    # `cdk deploy 'AcmeMl/*'` selects these by construct path; CloudFormation knows them by name.
    platform = team_app.platform
    paths = {stack.node.path for stack in platform.stacks}
    assert paths == {"AcmeMl/Network", "AcmeMl/Storage", "AcmeMl/Training", "AcmeMl/Orchestration"}
    assert [child for child in platform.node.children if isinstance(child, Stack)] == list(platform.stacks)
    assert platform.output_s3_uri.startswith("s3://") and platform.output_s3_uri.endswith("/jobs")


def test_dtrain_tags_its_own_resources_and_not_the_teams(team_app: Any) -> None:
    # cdk.json's `dtrain.tags` go on what dtrain makes; the team's own stack keeps its own tags.
    team_tag = {"Key": "team", "Value": "ml-platform"}
    template(team_app.platform.storage).has_resource_properties(
        "AWS::KMS::Key", {"Tags": Match.array_with([team_tag])}
    )
    (vpc,) = template(team_app.network).find_resources("AWS::EC2::VPC").values()
    assert team_tag not in vpc["Properties"]["Tags"]


def test_the_orchestration_runs_the_teams_jobs_only(team_app: Any) -> None:
    assert team_app.platform.orchestration is not None
    orchestration = template(team_app.platform.orchestration)
    orchestration.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    orchestration.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"source": ["aws.sagemaker"]})},
    )


def test_access_logs_are_delivered_by_bucket_policy_without_a_feature_flag_in_cdk_json(team_app: Any) -> None:
    # This app's cdk.json sets no CDK feature flag; S3's log delivery is still granted by policy
    # (the access-log bucket disables ACLs), as the storage stack sets for its own constructs.
    storage = template(team_app.platform.storage)
    storage.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "logging.s3.amazonaws.com"}})]
                )
            }
        },
    )


def test_the_storage_construct_alone_with_the_teams_key_and_network() -> None:
    # One dtrain construct without the others: the team's stack owns the VPC, its security group
    # and its KMS key; dtrain's storage stack makes hardened buckets encrypted with that key.
    from aws_cdk import App
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms

    from dtrain.config import DtrainConfig
    from dtrain.constructs.storage_stack import StorageStack

    app = App()
    team = Stack(app, "Team")
    vpc = ec2.Vpc(team, "Vpc", max_azs=1, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="ml", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
    ])  # fmt: skip
    key = kms.Key(team, "Key", enable_key_rotation=True)
    group = ec2.SecurityGroup(team, "Jobs", vpc=vpc)
    config = DtrainConfig.from_settings({"fsx.enabled": False, "efs.enabled": False})
    subnets = vpc.isolated_subnets
    storage = StorageStack(
        app, "Storage", config=config, vpc=vpc, private_subnets=ec2.SubnetSelection(subnets=subnets),
        private_subnet_ids=[s.subnet_id for s in subnets], training_sg=group, key=key,
    )  # fmt: skip
    found = template(storage)
    found.resource_count_is("AWS::KMS::Key", 0)
    found.resource_count_is("AWS::S3::Bucket", 4)  # data, artifacts, checkpoints, access logs
    by_team_key = Match.object_like({"KMSMasterKeyID": {"Fn::ImportValue": Match.any_value()}})
    rule = Match.object_like({"ServerSideEncryptionByDefault": by_team_key})
    found.resource_properties_count_is(
        "AWS::S3::Bucket", {"BucketEncryption": {"ServerSideEncryptionConfiguration": [rule]}}, 3
    )
