"""The platform as one construct: `DtrainPlatform`, the network, storage, training and orchestration
stacks wired together, with typed handles.

    app = App()
    platform = DtrainPlatform(app, "Dtrain", config=DtrainConfig.from_settings({...}),
                              existing=ExistingResources(vpc=my_vpc, data_bucket=my_bucket))
    platform.orchestration.state_machine, platform.output_s3_uri, ...

It goes under an App or a Stage. Where its four stacks sit in the construct tree is a prop,
because CDK derives more than the CLI's stack selection from a stack's construct path:

- by default its children (paths `<id>/Network`, `<id>/Storage`, `<id>/Training`,
  `<id>/Orchestration`), which the CDK CLI selects as `cdk deploy '<id>/*'` (or `--all`);
- `stacks_at_root=True`: at the root of its App or Stage (paths `<stack_prefix>Network`, ...),
  where the project's app.py (dtrain.constructs.platform_app) and the former `add_platform`
  placed them. A platform deployed from there keeps its templates exactly: moving a stack under
  another construct changes the `Name` tags CDK derives from node paths (VPC, subnets, flow
  log, EFS) and the logical ids it derives from unique ids (a security group rule naming its
  peer group, an event rule's Lambda permission), and CloudFormation would replace those rules.

Either way the stacks' CloudFormation names are `<stack_prefix>Network`, ... set explicitly, so
export names, the emulator (which reads the manifest's stackName) and `dtrain --stack` do not
depend on the placement. Each stack class is usable alone as well (examples/platform_app/ uses
StorageStack alone); `existing` hands in what a platform team already runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import DefaultStackSynthesizer, Environment, RemovalPolicy, Stage, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dtrain.config import DtrainConfig, TeamConfig
from dtrain.constructs.nag_acknowledgments import acknowledge_platform
from dtrain.constructs.network_stack import NetworkStack
from dtrain.constructs.orchestration_stack import OrchestrationOptions, OrchestrationStack
from dtrain.constructs.storage_stack import JOBS_PREFIX, StorageStack
from dtrain.constructs.training_stack import TrainingStack


@dataclass(frozen=True)
class ExistingResources:
    """What the team already has. Each None by default: the platform makes its own.

    - `vpc`: its VPC as an object (its app's ec2.Vpc, `ec2.Vpc.from_lookup`, `from_vpc_attributes`);
      `private_subnets`: the subnets of it the jobs run in (default: its private ones).
    - `key`: the KMS key for buckets, file systems and job volumes.
    - `data_bucket`, `artifacts_bucket`, `checkpoints_bucket`: buckets to use as they are.
    Switches for what it already runs in the VPC are settings: `network.s3_gateway_endpoint`,
    `network.flow_logs`, `network.interface_endpoints` (DtrainConfig)."""

    vpc: ec2.IVpc | None = None
    private_subnets: ec2.SubnetSelection | None = None
    key: kms.IKey | None = None
    data_bucket: s3.IBucket | None = None
    artifacts_bucket: s3.IBucket | None = None
    checkpoints_bucket: s3.IBucket | None = None


class DtrainPlatform(Construct):
    """The whole platform as one construct; its handles are typed attributes.

    Props (keyword-only), each with its default:
    - `config`: the settings. Default: read from the context (`DtrainConfig.from_context`: a
      `dtrain` object in cdk.json, or this project's flat keys), which with no dtrain keys at all
      is `dtrain.config.DEFAULTS`. In Python: `DtrainConfig.from_settings({...})`.
    - `existing`: resources the team already has (ExistingResources). Default: none, the platform
      makes its own VPC, key and buckets.
    - `env`: the stacks' account and region. Default: the config's `account` and `region` when
      both are set (then `network.availability_zones` answers the stacks' zone lookup, so synth
      needs no credentials), else environment-agnostic stacks.
    - `acknowledge`: add the platform's cdk-nag acknowledgments (its findings, each with its
      reason; nag_acknowledgments.py), so an app that runs cdk-nag sees only its own findings.
      Default: True.
    - `teams`: the scientist teams (dtrain.config.TeamConfig), instead of the config's own
      (`teams` in cdk.json or in `from_settings`). Default: the config's; with none configured,
      the one implicit `default` team, whose resources keep the names they had before teams.
    - `stacks_at_root`: place the four stacks at the root of the App or Stage instead of under
      this construct (see the module docstring: what a platform deployed that way needs to keep
      its templates). Default: False, they are its children.

    The config's `tags` are applied to every resource of the four stacks.

    Handles: `config`, `network`, `storage`, `training`, `orchestration` (the four stacks, with
    their resources: `storage.data_bucket`, `training.execution_role`,
    `orchestration.state_machine`, ...), `stacks` (the four), `output_s3_uri` and
    `checkpoint_s3_uri` (what PlatformSettings gets)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DtrainConfig | None = None,
        existing: ExistingResources | None = None,
        env: Environment | None = None,
        acknowledge: bool = True,
        stacks_at_root: bool = False,
        teams: Sequence[TeamConfig] | None = None,
    ) -> None:
        config = config if config is not None else DtrainConfig.from_context(scope.node.get_all_context())
        if teams is not None:
            config = config.with_teams(teams)
        # The root the stacks go to at the root: the App or Stage this construct is in (Stage.of
        # skips the node itself, so a scope that is a Stage is its own root).
        root: Construct = scope if Stage.is_stage(scope) else (Stage.of(scope) or scope)
        if stacks_at_root and not root.node.children:
            # Context is set before a node has children: at the root, before this construct is
            # added to it (in an app whose first construct it is, as app.py's).
            _fill_zone_lookup(root, config)
        super().__init__(scope, construct_id)
        if not stacks_at_root:
            _fill_zone_lookup(self, config)
        self.config = config
        self._parent: Construct = root if stacks_at_root else self
        self._at_root = stacks_at_root
        have = existing or ExistingResources()
        if env is None and config.explicit_env:
            env = Environment(account=config.account, region=config.region)
        self.network = self._add_network(have, env)
        # Teams (config.teams): the training stack gives each its execution role, the
        # orchestration its state machine and scientists' policy (dtrain.team_names).
        self.storage = self._add_storage(have, env)
        self.training = self._add_training(env)
        self.orchestration = self._add_orchestration(env)
        for stack in self.stacks:
            for key, value in self.config.tags.items():
                Tags.of(stack).add(key, value)
        if acknowledge:
            acknowledge_platform(self)

    @property
    def stacks(self) -> tuple[NetworkStack, StorageStack, TrainingStack, OrchestrationStack]:
        return (self.network, self.storage, self.training, self.orchestration)

    @property
    def output_s3_uri(self) -> str:
        """PlatformSettings.output_s3_uri: the prefix the execution role may write job output under."""
        return f"s3://{self.storage.artifacts_bucket.bucket_name}/{JOBS_PREFIX}"

    @property
    def checkpoint_s3_uri(self) -> str:
        """PlatformSettings.checkpoint_s3_uri: per job `<this>/<job_name>`."""
        return f"s3://{self.storage.checkpoints_bucket.bucket_name}/{JOBS_PREFIX}"

    def _stack_id(self, part: str) -> str:
        # At the root, the id is the stack name, as the stacks had before this construct existed.
        return f"{self.config.stack_prefix}{part}" if self._at_root else part

    def _synthesizer(self) -> DefaultStackSynthesizer:
        # The bootstrap-version rule checks an SSM parameter the bootstrap stack creates: right for
        # real deploys, but the embedded emulator has no bootstrap stack, so `emulator: true` drops it.
        return DefaultStackSynthesizer(generate_bootstrap_version_rule=self.config.bootstrap_rule)

    def _add_network(self, have: ExistingResources, env: Environment | None) -> NetworkStack:
        return NetworkStack(
            self._parent,
            self._stack_id("Network"),
            stack_name=f"{self.config.stack_prefix}Network",
            config=self.config,
            vpc=have.vpc,
            private_subnets=have.private_subnets,
            env=env,
            synthesizer=self._synthesizer(),
            description="dtrain network: VPC, private subnets, VPC endpoints, training security group",
        )

    def _add_storage(self, have: ExistingResources, env: Environment | None) -> StorageStack:
        network = self.network
        return StorageStack(
            self._parent,
            self._stack_id("Storage"),
            stack_name=f"{self.config.stack_prefix}Storage",
            config=self.config,
            vpc=network.vpc,
            private_subnets=network.private_subnets,
            private_subnet_ids=network.private_subnet_ids,
            training_sg=network.training_sg,
            key=have.key,
            data_bucket=have.data_bucket,
            artifacts_bucket=have.artifacts_bucket,
            checkpoints_bucket=have.checkpoints_bucket,
            env=env,
            synthesizer=self._synthesizer(),
            description="dtrain storage: data/artifacts/checkpoint buckets, KMS key, FSx for Lustre, EFS",
        )

    def _add_training(self, env: Environment | None) -> TrainingStack:
        storage = self.storage
        return TrainingStack(
            self._parent,
            self._stack_id("Training"),
            stack_name=f"{self.config.stack_prefix}Training",
            config=self.config,
            vpc=self.network.vpc,
            key=storage.key,
            data_bucket=storage.data_bucket,
            artifacts_bucket=storage.artifacts_bucket,
            checkpoints_bucket=storage.checkpoints_bucket,
            fsx_id=storage.fsx_id,
            env=env,
            synthesizer=self._synthesizer(),
            description="dtrain training: SageMaker execution role, packaged training images",
        )

    def _add_orchestration(self, env: Environment | None) -> OrchestrationStack:
        # The orchestration consumes the other stacks' resources as typed arguments; its own
        # cdk-nag acknowledgments live inside it (stacks/orchestration/nag.py).
        config, network, storage = self.config, self.network, self.storage
        return OrchestrationStack(
            self._parent,
            self._stack_id("Orchestration"),
            stack_name=f"{config.stack_prefix}Orchestration",
            artifacts_bucket=storage.artifacts_bucket,
            checkpoints_bucket=storage.checkpoints_bucket,
            data_key=storage.key,
            data_bucket=storage.data_bucket,
            execution_role=self.training.execution_role,
            vpc=network.vpc,
            subnets=network.private_subnet_list,
            training_security_group=network.training_sg,
            image_uris=self.training.image_uris,
            fsx_id=storage.fsx_id,
            fsx_mount_name=storage.fsx_mount_name,
            efs_id=storage.efs_id,
            output_prefix=JOBS_PREFIX,
            checkpoint_prefix=JOBS_PREFIX,
            team_roles=self.training.team_roles if config.has_teams else None,
            teams=config.teams if config.has_teams else (),
            options=OrchestrationOptions(
                job_name_prefix=config.job_name_prefix,  # this platform's own jobs only
                notification_email=config.notification_email,
                jobs_in_vpc=config.network.jobs_in_vpc,
                removal_policy=RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY,
                tags=dict(config.tags),
            ),
            env=env,
            synthesizer=self._synthesizer(),
            description="dtrain orchestration: state machine, Lambdas, job ledger, events, notifications",
        )


def _fill_zone_lookup(holder: Construct, config: DtrainConfig) -> None:
    """Fill CDK's own lookup cache from config: with an explicit env, a stack asking for its zones
    reads this (context is looked up the tree) instead of calling EC2, so synth needs no
    credentials."""
    if config.explicit_env and config.network.availability_zones:
        holder.node.set_context(
            f"availability-zones:account={config.account}:region={config.region}",
            list(config.network.availability_zones),
        )
