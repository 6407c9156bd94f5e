"""A platform team's own CDK app with dtrain in it: the team's network stack (its VPC, with the S3
gateway endpoint and the flow log it already runs) and an existing data bucket, handed to the
dtrain platform construct (`DtrainPlatform`, parent of dtrain's four stacks); dtrain's settings
come from the `dtrain` object in this app's cdk.json, beside the team's own context keys.

This folder is what a team writes after `pip install "dtrain[cdk]"`: nothing here reaches into a
dtrain checkout. `python app.py` (what `cdk synth` runs) synthesizes it; tests/ holds its own
assertion tests (`pytest tests`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3

from dtrain.constructs.platform import DtrainPlatform, ExistingResources

HERE = Path(__file__).resolve().parent
# The bucket the team's data already lives in (made and filled outside this app).
DATASETS_BUCKET = "acme-ml-datasets"


def cdk_json_context() -> dict[str, Any]:
    """The context `cdk synth` would pass: this app's cdk.json."""
    return dict(json.loads((HERE / "cdk.json").read_text())["context"])


class TeamNetworkStack(Stack):
    """The team's network as it already is: two private subnets, its own S3 gateway endpoint and
    VPC flow log (so dtrain's are switched off in cdk.json)."""

    def __init__(self, scope: App, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.90.0.0/16"),
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="ml", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20)
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
            flow_logs={"All": ec2.FlowLogOptions(traffic_type=ec2.FlowLogTrafficType.ALL)},
        )


@dataclass(frozen=True)
class TeamApp:
    app: App
    network: TeamNetworkStack
    platform: DtrainPlatform


def build(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> TeamApp:
    """The team's app; `context=None`: what the CDK CLI passes (this cdk.json plus `-c` values)."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    network = TeamNetworkStack(app, "AcmeNetwork")
    datasets = s3.Bucket.from_bucket_name(network, "Datasets", DATASETS_BUCKET)
    existing = ExistingResources(
        vpc=network.vpc, private_subnets=ec2.SubnetSelection(subnet_group_name="ml"), data_bucket=datasets
    )
    # Settings: by default the `dtrain` object of the context, read alone (the team's own keys,
    # team:cost-center and environment, stay its own). Its stacks are AcmeMl/Network, ...
    # (construct paths; `cdk deploy 'AcmeMl/*'`), named AcmeMlNetwork, ... in CloudFormation.
    platform = DtrainPlatform(app, "AcmeMl", existing=existing)
    return TeamApp(app=app, network=network, platform=platform)
