"""The platform as one call: network, storage, training and orchestration stacks, wired together.

`add_platform(scope, config, existing)` adds the four stacks (`<stack_prefix>Network`, `...Storage`,
`...Training`, `...Orchestration`) to an App or a Stage and returns their typed handles. Each stack
is usable alone as well (examples/platform_app/ builds the network its own way); `existing` hands
in what a platform team already runs. The project's app.py is one user of it
(dtrain.constructs.platform_app).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import DefaultStackSynthesizer, Environment, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dtrain.config import DtrainConfig
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


@dataclass(frozen=True)
class Platform:
    config: DtrainConfig
    network: NetworkStack
    storage: StorageStack
    training: TrainingStack
    orchestration: OrchestrationStack | None = None

    @property
    def stacks(self) -> tuple[NetworkStack, StorageStack, TrainingStack]:
        return (self.network, self.storage, self.training)

    @property
    def output_s3_uri(self) -> str:
        """PlatformSettings.output_s3_uri: the prefix the execution role may write job output under."""
        return f"s3://{self.storage.artifacts_bucket.bucket_name}/{JOBS_PREFIX}"

    @property
    def checkpoint_s3_uri(self) -> str:
        """PlatformSettings.checkpoint_s3_uri: per job `<this>/<job_name>`."""
        return f"s3://{self.storage.checkpoints_bucket.bucket_name}/{JOBS_PREFIX}"


def add_platform(
    scope: Construct,
    config: DtrainConfig,
    existing: ExistingResources | None = None,
    *,
    env: Environment | None = None,
    acknowledge: bool = True,
) -> Platform:
    """Add the platform's four stacks to `scope` (an App or a Stage) and return their handles.

    `config`: the settings (`DtrainConfig.from_settings({...})` or `.from_context(...)`; defaults
    in dtrain.config.DEFAULTS). `env`: the stacks' account and region (default: environment-
    agnostic). `acknowledge`: add the platform's cdk-nag acknowledgments (its findings, each with
    its reason; nag_acknowledgments.py), so an app that runs cdk-nag sees only its own findings."""
    have = existing or ExistingResources()

    # The bootstrap-version rule checks an SSM parameter the bootstrap stack creates: right for
    # real deploys, but the embedded emulator has no bootstrap stack, so `emulator: true` drops it.
    def synthesizer() -> DefaultStackSynthesizer:
        return DefaultStackSynthesizer(generate_bootstrap_version_rule=config.bootstrap_rule)

    prefix = config.stack_prefix
    network = NetworkStack(
        scope,
        f"{prefix}Network",
        config=config,
        vpc=have.vpc,
        private_subnets=have.private_subnets,
        env=env,
        synthesizer=synthesizer(),
        description="dtrain network: VPC, private subnets, VPC endpoints, training security group",
    )
    storage = _add_storage(scope, config, network, have, env=env, synthesizer=synthesizer())
    training = TrainingStack(
        scope,
        f"{prefix}Training",
        config=config,
        vpc=network.vpc,
        key=storage.key,
        data_bucket=storage.data_bucket,
        artifacts_bucket=storage.artifacts_bucket,
        checkpoints_bucket=storage.checkpoints_bucket,
        fsx_id=storage.fsx_id,
        env=env,
        synthesizer=synthesizer(),
        description="dtrain training: SageMaker execution role, packaged training images",
    )
    orchestration = _add_orchestration(
        scope, config, network, storage, training, env=env, synthesizer=synthesizer()
    )
    platform = Platform(
        config=config, network=network, storage=storage, training=training, orchestration=orchestration
    )
    if acknowledge:
        acknowledge_platform(platform)
    return platform


def _add_orchestration(
    scope: Construct,
    config: DtrainConfig,
    network: NetworkStack,
    storage: StorageStack,
    training: TrainingStack,
    *,
    env: Environment | None,
    synthesizer: DefaultStackSynthesizer,
) -> OrchestrationStack:
    # The orchestration consumes the other stacks' resources as typed arguments; its own
    # cdk-nag acknowledgments live inside it (stacks/orchestration/nag.py).
    return OrchestrationStack(
        scope,
        f"{config.stack_prefix}Orchestration",
        artifacts_bucket=storage.artifacts_bucket,
        checkpoints_bucket=storage.checkpoints_bucket,
        data_key=storage.key,
        data_bucket=storage.data_bucket,
        execution_role=training.execution_role,
        vpc=network.vpc,
        subnets=network.private_subnet_list,
        training_security_group=network.training_sg,
        image_uris=training.image_uris,
        fsx_id=storage.fsx_id,
        fsx_mount_name=storage.fsx_mount_name,
        efs_id=storage.efs_id,
        output_prefix=JOBS_PREFIX,
        checkpoint_prefix=JOBS_PREFIX,
        options=OrchestrationOptions(
            job_name_prefix=config.job_name_prefix,  # this platform's own jobs only
            notification_email=config.notification_email,
            jobs_in_vpc=config.network.jobs_in_vpc,
            removal_policy=RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY,
            tags=dict(config.tags),
        ),
        env=env,
        synthesizer=synthesizer,
        description="dtrain orchestration: state machine, Lambdas, job ledger, events, notifications",
    )


def _add_storage(
    scope: Construct,
    config: DtrainConfig,
    network: NetworkStack,
    have: ExistingResources,
    *,
    env: Environment | None,
    synthesizer: DefaultStackSynthesizer,
) -> StorageStack:
    return StorageStack(
        scope,
        f"{config.stack_prefix}Storage",
        config=config,
        vpc=network.vpc,
        private_subnets=network.private_subnets,
        private_subnet_ids=network.private_subnet_ids,
        training_sg=network.training_sg,
        key=have.key,
        data_bucket=have.data_bucket,
        artifacts_bucket=have.artifacts_bucket,
        checkpoints_bucket=have.checkpoints_bucket,
        env=env,
        synthesizer=synthesizer,
        description="dtrain storage: data/artifacts/checkpoint buckets, KMS key, FSx for Lustre, EFS",
    )
