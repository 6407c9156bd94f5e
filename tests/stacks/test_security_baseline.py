"""Issue 29, findings 3, 4 and 8: the security baseline a platform team's assertion tests check.

- 3: every VPC endpoint has a policy: this account's principals, this account's resources (the
  platform's buckets for S3), never the default allow-everything.
- 4: the orchestration key admits CloudWatch Logs for this stack's log groups only
  (kms:EncryptionContext:aws:logs:arn).
- 8: the flow-log group is encrypted with a key of its own; the Lambdas' environments use the
  stack's key; every kms:CreateGrant carries kms:GrantIsForAWSResource; the training security
  group's egress is bounded where there is no NAT (the bootstrap repository's item is in
  test_alternate_configs: the qualifier names the repository pulled from).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

PRINCIPAL_ACCOUNT = {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}


def _resources(template: Template, type_: str) -> dict[str, Any]:
    return dict(template.find_resources(type_))


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["Statement"])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_interface_endpoint_admits_only_this_accounts_principals(
    templates: dict[str, Template],
) -> None:
    endpoints = [
        e["Properties"]
        for e in _resources(templates["network"], "AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Interface"
    ]
    assert len(endpoints) == 7
    for endpoint in endpoints:
        for statement in _statements(endpoint["PolicyDocument"]):
            assert statement["Effect"] == "Allow" and statement["Condition"] == PRINCIPAL_ACCOUNT
            assert _as_list(statement["Action"]) != ["*"]


def test_sagemaker_logs_and_states_endpoints_reach_only_this_accounts_resources(
    templates: dict[str, Template],
) -> None:
    text = {
        json.dumps(e["Properties"]["ServiceName"]): e["Properties"]["PolicyDocument"]
        for e in _resources(templates["network"], "AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Interface"
    }
    for service in (".sagemaker.api", ".logs", ".states"):
        (document,) = [d for name, d in text.items() if service in name]
        (statement,) = _statements(document)
        resource = json.dumps(statement["Resource"])
        assert '"Ref": "AWS::AccountId"' in resource and '"Ref": "AWS::Region"' in resource
    (ecr,) = [d for name, d in text.items() if ".ecr.dkr" in name]
    pulls = [s for s in _statements(ecr) if "ecr:BatchGetImage" in _as_list(s["Action"])]
    (pull,) = pulls
    # The DLC registry of the deploying region (issue 26, finding 13: its account differs per region).
    assert len(pull["Resource"]) == 2 and "DeepLearningContainerAccounts" in json.dumps(pull["Resource"])


def test_the_s3_gateway_allows_the_platforms_buckets_and_ecrs_layer_bucket_only(
    templates: dict[str, Template],
) -> None:
    storage = templates["storage"]
    (gateway,) = [
        e["Properties"]
        for e in _resources(storage, "AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Gateway"
    ]
    buckets = {k for k, v in _resources(storage, "AWS::S3::Bucket").items() if "AccessLog" not in k}
    statements = {s["Sid"]: s for s in _statements(gateway["PolicyDocument"])}
    assert set(statements) == {"PlatformBucketsOnly", "EcrImageLayers"}
    platform = statements["PlatformBucketsOnly"]
    assert platform["Condition"] == PRINCIPAL_ACCOUNT
    named = {
        r["Fn::GetAtt"][0] if "Fn::GetAtt" in r else r["Fn::Join"][1][0]["Fn::GetAtt"][0]
        for r in platform["Resource"]
    }
    assert named == buckets and len(platform["Resource"]) == 2 * len(buckets)
    assert statements["EcrImageLayers"]["Action"] == "s3:GetObject"
    assert "starport-layer-bucket/*" in json.dumps(statements["EcrImageLayers"]["Resource"])


def _logs_key_statements(template: Template) -> list[dict[str, Any]]:
    found = []
    for key in _resources(template, "AWS::KMS::Key").values():
        for statement in _statements(key["Properties"]["KeyPolicy"]):
            if "logs." in json.dumps(statement.get("Principal", {})):
                found.append(statement)
    return found


def test_the_orchestration_key_admits_logs_for_this_stacks_log_groups_only(
    templates: dict[str, Template],
) -> None:
    orchestration = templates["orchestration"]
    (statement,) = _logs_key_statements(orchestration)
    patterns = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    groups = [g["Properties"] for g in _resources(orchestration, "AWS::Logs::LogGroup").values()]
    assert len(groups) == 6 and all("KmsKeyId" in g for g in groups)
    # Each pattern is an Fn::Join of the ARN head and a literal tail naming the group(s).
    tails = [json.dumps(p).split("log-group:")[1].split('"')[0] for p in patterns]
    assert tails == [
        "/aws/vendedlogs/states/DtrainOrchestration-TrainingWorkflow",
        "/dtrain/DtrainOrchestration/*",
    ]
    for group in groups:
        name = group["LogGroupName"]
        assert name == tails[0] or name.startswith(tails[1].rstrip("*")), name


def test_the_flow_log_group_is_encrypted_with_a_key_for_that_group_only(
    templates: dict[str, Template],
) -> None:
    network = templates["network"]
    (group,) = [g["Properties"] for g in _resources(network, "AWS::Logs::LogGroup").values()]
    assert "KmsKeyId" in group
    (statement,) = _logs_key_statements(network)
    admitted = json.dumps(statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert group["LogGroupName"] in admitted


def test_every_lambda_environment_is_encrypted_with_the_stacks_key(templates: dict[str, Template]) -> None:
    orchestration = templates["orchestration"]
    (key_id,) = [k for k in _resources(orchestration, "AWS::KMS::Key") if "OrchestrationKey" in k]
    functions = _resources(orchestration, "AWS::Lambda::Function")
    assert len(functions) == 5
    for function in functions.values():
        assert function["Properties"]["KmsKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_every_create_grant_is_for_an_aws_resource(templates: dict[str, Template]) -> None:
    for name, template in templates.items():
        for policy in _resources(template, "AWS::IAM::Policy").values():
            for statement in _statements(policy["Properties"]["PolicyDocument"]):
                if "kms:CreateGrant" in _as_list(statement["Action"]):
                    assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}, name


def test_without_a_nat_the_training_group_sends_only_https_nfs_lustre_and_to_itself(
    templates: dict[str, Template],
) -> None:
    network = templates["network"]
    groups = _resources(network, "AWS::EC2::SecurityGroup")
    (training_id,) = [
        k for k, v in groups.items() if "training instances" in v["Properties"]["GroupDescription"]
    ]
    egress = groups[training_id]["Properties"]["SecurityGroupEgress"]
    by_port = {(e["IpProtocol"], e.get("FromPort"), e.get("ToPort")): e.get("CidrIp") for e in egress}
    assert by_port == {
        ("tcp", 443, 443): "0.0.0.0/0",
        ("tcp", 2049, 2049): "10.40.0.0/16",
        ("tcp", 988, 988): "10.40.0.0/16",
        ("tcp", 1018, 1023): "10.40.0.0/16",
    }
