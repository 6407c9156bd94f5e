"""Network: the VPC training jobs run in, the endpoints they call, and the training security group.

Training instances sit in private subnets with no route to the internet by default
(`network.nat_gateways: 0`): everything they call (S3, ECR, SageMaker, CloudWatch, STS,
Step Functions) is reached through VPC endpoints.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Fn, RemovalPolicy, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from dtrain.config import LOG_RETENTION_DAYS, DtrainConfig
from dtrain.constructs.hosting_permissions import dlc_account
from dtrain.constructs.log_encryption import allow_log_groups_to_encrypt
from dtrain.constructs.storage_stack import LUSTRE_PORT_RANGES

# Interface endpoints for what training jobs and the orchestration Lambdas call.
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "CloudWatchLogs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "CloudWatchMonitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "StepFunctions": ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
}


class NetworkStack(Stack):
    """Typed outputs for the stacks that follow: `vpc`, `private_subnets`, `training_sg`.

    Props (keyword arguments; every default is the platform's own network):
    - `config`: the settings (DtrainConfig: `network.*`, defaults in dtrain.config.DEFAULTS, listed
      in cdk.json). `network.flow_logs: false` when the team already logs the VPC's flows;
      `network.interface_endpoints: false` when its VPC already has them.
    - `vpc`: a VPC the team already has, as an object: an ec2.Vpc of its own app, an
      `ec2.Vpc.from_lookup(...)` or `from_vpc_attributes(...)`. Default None: a new VPC from
      `network.*`, or the one `network.vpc_id` and its subnet ids describe.
    - `private_subnets`: which subnets of `vpc` the jobs run in. Default None: its private
      subnets, or its isolated ones when it has none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DtrainConfig,
        vpc: ec2.IVpc | None = None,
        private_subnets: ec2.SubnetSelection | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        net = config.network
        # A VPC the team brought (an object or literal ids): its routes are not ours to know.
        self.brought_vpc = vpc is not None or net.imported
        if vpc is not None:
            self.vpc: ec2.IVpc = vpc
        else:
            self.vpc = self._imported_vpc(config) if net.imported else self._new_vpc(config)
        # The configured block for the platform's own VPC (known at synth); the brought VPC's own.
        self.vpc_cidr: str = net.vpc_cidr if vpc is None else vpc.vpc_cidr_block
        subnets = self._job_subnets(config, brought=vpc is not None, chosen=private_subnets)
        self.private_subnet_list: list[ec2.ISubnet] = list(subnets)
        self.private_subnets: ec2.SubnetSelection = ec2.SubnetSelection(subnets=self.private_subnet_list)
        self.private_subnet_ids: list[str] = [s.subnet_id for s in self.private_subnet_list]

        if net.flow_logs:
            self._flow_logs(config)
        # The S3 gateway endpoint lives in the storage stack: its policy names the platform's
        # buckets, which are created there (storage_stack.StorageStack._s3_gateway).
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        if net.interface_endpoints:
            self._interface_endpoints(self.vpc_cidr)

        self.training_sg = self._training_security_group(config)

        CfnOutput(self, "VpcId", value=self.vpc.vpc_id, description="VPC the training jobs run in")
        CfnOutput(
            self,
            "PrivateSubnetIds",
            value=Fn.join(",", self.private_subnet_ids),
            description="Private subnets for training jobs (comma-separated)",
        )
        CfnOutput(
            self,
            "TrainingSecurityGroupId",
            value=self.training_sg.security_group_id,
            description="Security group for training jobs",
        )

    def _job_subnets(
        self, config: DtrainConfig, *, brought: bool, chosen: ec2.SubnetSelection | None
    ) -> list[ec2.ISubnet]:
        """The subnets jobs run in: those `chosen` of the VPC; else a brought VPC's private ones (its
        isolated ones when it has none); else the platform VPC's private (NAT) or isolated ones."""
        net = config.network
        if chosen is not None:
            return self.vpc.select_subnets(
                availability_zones=chosen.availability_zones,
                one_per_az=chosen.one_per_az,
                subnet_filters=chosen.subnet_filters,
                subnet_group_name=chosen.subnet_group_name,
                subnet_type=chosen.subnet_type,
                subnets=chosen.subnets,
            ).subnets
        if brought:
            return self.vpc.private_subnets or self.vpc.isolated_subnets
        return self.vpc.private_subnets if net.imported or net.nat_gateways else self.vpc.isolated_subnets

    def _training_security_group(self, config: DtrainConfig) -> ec2.SecurityGroup:
        """All traffic among the group's members, inbound and outbound, and nothing else inbound.

        - NCCL and MPI open TCP connections between every pair of instances on arbitrary ports.
        - EFA (ml.p4d, ml.p5): OS-bypass traffic is not TCP, and the EFA "must be a member of a
          security group that allows all inbound and outbound traffic to and from the security
          group itself" (EC2 User Guide, "Create and attach an EFA", and "Get started with EFA",
          step 1 "Prepare an EFA-enabled security group",
          https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html#efa-start-security).
          The outbound rule must name the group itself: EKS keeps a self-referencing outbound
          rule "for EFA traffic" beside its 0.0.0.0/0 one (EKS User Guide, "security group
          requirements", https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html).
        - Inter-container traffic encryption needs UDP 500 and protocol 50 (ESP) inbound and
          outbound within the group (SageMaker Developer Guide, "Protect Communications Between ML
          Compute Instances in a Distributed Training Job",
          https://docs.aws.amazon.com/sagemaker/latest/dg/train-encrypt.html): protocol -1
          from and to the group covers both.
        Egress beyond the group: with a NAT gateway (or an imported VPC, whose routes are not
        ours to know) all of it, for package mirrors; without one, only what the private subnets
        can reach anyway: HTTPS (the interface endpoints in the VPC and S3 through the gateway
        endpoint, whose addresses are S3's managed prefix list `com.amazonaws.<region>.s3`: its
        id is only known by a lookup, which an environment-agnostic synth cannot make, so the
        rule names 0.0.0.0/0 on TCP 443, and the isolated subnets route nothing else there),
        NFS to EFS and the Lustre ports to FSx in the VPC.
        """
        net = config.network
        open_egress = bool(net.nat_gateways) or self.brought_vpc
        sg = ec2.SecurityGroup(
            self,
            "TrainingSecurityGroup",
            vpc=self.vpc,
            description="dtrain training instances: all traffic among members (NCCL/MPI/EFA) only",
            allow_all_outbound=open_egress,
        )
        sg.add_ingress_rule(sg, ec2.Port.all_traffic(), "NCCL, MPI, EFA and IPsec between training instances")
        if not open_egress:
            sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the VPC endpoints and S3")
            if config.efs.enabled:
                sg.add_egress_rule(ec2.Peer.ipv4(net.vpc_cidr), ec2.Port.tcp(2049), "NFS to EFS")
            if config.fsx.enabled:
                for low, high in LUSTRE_PORT_RANGES:
                    sg.add_egress_rule(
                        ec2.Peer.ipv4(net.vpc_cidr), ec2.Port.tcp_range(low, high), "Lustre to FSx"
                    )
        # The self rule is its own resource (allow_all_outbound makes add_egress_rule a no-op).
        ec2.CfnSecurityGroupEgress(
            self,
            "TrainingSecurityGroupToItself",
            group_id=sg.security_group_id,
            ip_protocol="-1",
            destination_security_group_id=sg.security_group_id,
            description="EFA and IPsec between training instances (needs a self-referencing rule)",
        )
        return sg

    def _new_vpc(self, config: DtrainConfig) -> ec2.Vpc:
        net = config.network
        private = ec2.SubnetConfiguration(
            name="private",
            subnet_type=(
                ec2.SubnetType.PRIVATE_WITH_EGRESS if net.nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
            ),
            cidr_mask=20,
        )
        subnets = [private]
        if net.nat_gateways:
            subnets.insert(0, ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC))
        # With an explicit env, name the zones so synth never asks EC2 for them.
        zones = list(net.availability_zones[: net.max_azs]) if config.explicit_env else None
        return ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(net.vpc_cidr),
            max_azs=None if zones else net.max_azs,
            availability_zones=zones,
            nat_gateways=net.nat_gateways,
            subnet_configuration=subnets,
            restrict_default_security_group=False,
        )

    def _imported_vpc(self, config: DtrainConfig) -> ec2.IVpc:
        net = config.network
        assert net.vpc_id is not None
        return ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=net.vpc_id,
            vpc_cidr_block=net.vpc_cidr,
            availability_zones=list(net.availability_zones),
            private_subnet_ids=list(net.private_subnet_ids),
            private_subnet_route_table_ids=list(net.private_route_table_ids),
        )

    def _flow_logs(self, config: DtrainConfig) -> None:
        removal = RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY
        name = f"/dtrain/{self.stack_name}/vpc-flow-logs"
        key = kms.Key(
            self,
            "FlowLogKey",
            description="dtrain network: encrypts the VPC flow-log group",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # The key admits CloudWatch Logs for this group only (stacks/log_encryption.py).
        allow_log_groups_to_encrypt(key, sid="FlowLogGroupOnly", log_groups=name)
        group = logs.LogGroup(
            self,
            "FlowLogGroup",
            log_group_name=name,
            encryption_key=key,
            retention=_retention(config.network.flow_log_retention_days),
            removal_policy=removal,
        )
        ec2.FlowLog(
            self,
            "FlowLog",
            resource_type=ec2.FlowLogResourceType.from_vpc(self.vpc),
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

    def _interface_endpoints(self, cidr: str) -> None:
        endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="dtrain VPC interface endpoints: HTTPS from inside the VPC",
            allow_all_outbound=False,
        )
        endpoint_sg.add_ingress_rule(
            # The configured CIDR, not the VPC's token: the value is known at synth time (a VPC
            # object the team brought gives its own block, a token when its stack makes it).
            ec2.Peer.ipv4(cidr),
            ec2.Port.tcp(443),
            "HTTPS to AWS APIs from the VPC",
        )
        for name, service in INTERFACE_ENDPOINTS.items():
            options: dict[str, Any] = {
                "service": service,
                "subnets": self.private_subnets,
                "security_groups": [endpoint_sg],
                "private_dns_enabled": True,
                "open": False,
            }
            # A VPC of this stack (its own, or described by ids) adds the endpoint under its own
            # node, as it always did. A VPC of another stack would put the endpoint in that stack,
            # which would then depend on this one's security group (a cycle): it goes here.
            endpoint = (
                self.vpc.add_interface_endpoint(name, **options)
                if Stack.of(self.vpc) is self
                else ec2.InterfaceVpcEndpoint(self, name, vpc=self.vpc, **options)
            )
            for statement in endpoint_statements(name, dlc_account=dlc_account(self)):
                endpoint.add_to_policy(statement)
            Tags.of(endpoint).add("Name", f"dtrain-{name}")
            self.interface_endpoints[name] = endpoint


def endpoint_statements(name: str, *, dlc_account: str) -> list[iam.PolicyStatement]:
    """An interface endpoint's policy: this account's principals, on this account's resources
    of the endpoint's service (and, for ECR, the AWS Deep Learning Containers' repositories).

    The default policy allows any principal any action on any resource: credentials of another
    account, or this account's on another account's resources, would pass through (VPC User
    Guide, "Control access to VPC endpoints using endpoint policies",
    https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html).
    aws:PrincipalAccount keeps foreign credentials out; the resources keep the calls in the
    account. Actions with no resource-level permissions (ecr:GetAuthorizationToken,
    cloudwatch:PutMetricData, STS's) take "*", bound by the principal's account: whatever they
    write lands in that account."""
    head = f"arn:{Aws.PARTITION}"
    own = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
    in_account = {"StringEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}}

    def allow(actions: list[str], resources: list[str]) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            principals=[iam.AnyPrincipal()], actions=actions, resources=resources, conditions=in_account
        )

    own_resources = {
        "SageMakerApi": ("sagemaker", "sagemaker"),
        "CloudWatchLogs": ("logs", "logs"),
        "StepFunctions": ("states", "states"),
    }
    if name in own_resources:
        prefix, service = own_resources[name]
        return [allow([f"{prefix}:*"], [f"{head}:{service}:{own}:*"])]
    if name in ("EcrApi", "EcrDocker"):
        repositories = [
            f"{head}:ecr:{own}:repository/*",
            # The deploying region's DLC account (stacks.hosting_permissions.dlc_account).
            f"{head}:ecr:{Aws.REGION}:{dlc_account}:repository/*",
        ]
        return [
            allow(["ecr:GetAuthorizationToken"], ["*"]),
            allow(
                ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                repositories,
            ),
        ]
    if name == "CloudWatchMonitoring":
        return [allow(["cloudwatch:PutMetricData"], ["*"])]
    if name == "Sts":
        return [allow(["sts:*"], ["*"])]
    raise ValueError(f"no endpoint policy for {name}")


def _retention(days: int) -> logs.RetentionDays:
    """jsii enums carry member names, not day counts: pair them with the periods CloudWatch
    accepts (same order; the config already checked `days` is one of them)."""
    finite = [m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE]
    return dict(zip(LOG_RETENTION_DAYS, finite, strict=True))[days]
