"""Network stack: private subnets only, endpoints for what jobs call, flow logs, the training SG."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from dtrain.constructs.network_stack import INTERFACE_ENDPOINTS


def resources(template: Template, type_: str) -> dict[str, Any]:
    return dict(template.find_resources(type_))


def endpoint_service_suffix(endpoint: dict[str, Any]) -> str:
    # ServiceName is {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".sagemaker.api"]]}
    parts = endpoint["Properties"]["ServiceName"]["Fn::Join"][1]
    return str(parts[-1]).lstrip(".")


def test_no_route_to_the_internet_by_default(templates: dict[str, Template]) -> None:
    network = templates["network"]
    network.resource_count_is("AWS::EC2::InternetGateway", 0)
    network.resource_count_is("AWS::EC2::NatGateway", 0)
    for subnet in resources(network, "AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def test_two_private_subnets_in_distinct_zones(templates: dict[str, Template]) -> None:
    subnets = resources(templates["network"], "AWS::EC2::Subnet")
    assert len(subnets) == 2
    # Env-agnostic: each zone is an {"Fn::Select": [i, {"Fn::GetAZs": ""}]}; compare them as text.
    zones = [repr(s["Properties"]["AvailabilityZone"]) for s in subnets.values()]
    assert len(set(zones)) == 2


def test_s3_gateway_endpoint_on_every_private_route_table(templates: dict[str, Template]) -> None:
    # In the storage stack since issue 29 (its policy names the buckets made there); the route
    # tables come from the network stack by import.
    gateways = {
        k: v
        for k, v in resources(templates["storage"], "AWS::EC2::VPCEndpoint").items()
        if v["Properties"]["VpcEndpointType"] == "Gateway"
    }
    (gateway,) = gateways.values()
    assert endpoint_service_suffix(gateway) == "s3"
    route_tables = resources(templates["network"], "AWS::EC2::RouteTable")
    imported = repr(gateway["Properties"]["RouteTableIds"])
    assert len(gateway["Properties"]["RouteTableIds"]) == len(route_tables)
    assert all(logical_id in imported for logical_id in route_tables)


def test_interface_endpoints_for_what_jobs_and_lambdas_call(templates: dict[str, Template]) -> None:
    interfaces = [
        e
        for e in resources(templates["network"], "AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Interface"
    ]
    services = sorted(endpoint_service_suffix(e) for e in interfaces)
    assert services == sorted(["sagemaker.api", "ecr.api", "ecr.dkr", "logs", "monitoring", "sts", "states"])
    assert len(INTERFACE_ENDPOINTS) == len(services)
    for endpoint in interfaces:
        assert endpoint["Properties"]["PrivateDnsEnabled"] is True


def test_endpoint_security_group_admits_only_https_from_the_vpc(templates: dict[str, Template]) -> None:
    templates["network"].has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": Match.string_like_regexp("interface endpoints"),
            "SecurityGroupIngress": [
                {
                    "CidrIp": "10.40.0.0/16",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpProtocol": "tcp",
                    "Description": Match.any_value(),
                }
            ],
        },
    )


def test_vpc_flow_logs_capture_all_traffic(templates: dict[str, Template]) -> None:
    network = templates["network"]
    network.has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"},
    )
    network.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365})


def test_training_sg_admits_all_traffic_from_itself_and_nothing_else(templates: dict[str, Template]) -> None:
    # EFA (p4d/p5) needs every protocol, not TCP only; protocol -1 also covers IPsec (UDP 500,
    # ESP) for inter-container traffic encryption.
    network = templates["network"]
    groups = resources(network, "AWS::EC2::SecurityGroup")
    (training_id,) = [
        k for k, v in groups.items() if "training instances" in v["Properties"]["GroupDescription"]
    ]
    assert "SecurityGroupIngress" not in groups[training_id]["Properties"]
    itself = {"Fn::GetAtt": [training_id, "GroupId"]}
    ingress = [
        r["Properties"]
        for r in resources(network, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == itself
    ]
    assert len(ingress) == 1
    (rule,) = ingress
    assert rule["IpProtocol"] == "-1" and "FromPort" not in rule and "ToPort" not in rule
    assert rule["SourceSecurityGroupId"] == itself
    assert "CidrIp" not in rule


def test_training_sg_sends_all_traffic_to_itself_by_a_self_referencing_rule(
    templates: dict[str, Template],
) -> None:
    # EFA wants the outbound rule to name the group itself, beside the other egress rules.
    network = templates["network"]
    groups = resources(network, "AWS::EC2::SecurityGroup")
    (training_id,) = [
        k for k, v in groups.items() if "training instances" in v["Properties"]["GroupDescription"]
    ]
    itself = {"Fn::GetAtt": [training_id, "GroupId"]}
    network.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress",
        {"GroupId": itself, "IpProtocol": "-1", "DestinationSecurityGroupId": itself},
    )


def test_network_outputs_for_the_cli(templates: dict[str, Template]) -> None:
    outputs = templates["network"].find_outputs("*")
    assert {"VpcId", "PrivateSubnetIds", "TrainingSecurityGroupId"} <= set(outputs)
