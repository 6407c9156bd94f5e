"""CDK apps the emulator deploys: a stand-in platform (tests). The full app deploys as synthesized
for the emulator (dtrain.emulator.platform_app) or as the test session synthesizes it (tests/conftest.py).

The stand-in app gives OrchestrationStack small real resources of its own (buckets, a key,
a role, a one-AZ VPC and a security group) so the orchestration tests do not depend on the
network/storage/training stacks. Synthesized without the bootstrap-version rule: the
emulator has no bootstrap stack.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dtrain import team_names
from dtrain.config import TeamConfig
from dtrain.emulator.shims import EmulatorError
from dtrain.emulator.synth_cache import cached_synth
from dtrain.node_banners import quiet_node_banners

if TYPE_CHECKING:
    from dtrain.constructs.orchestration.workflow import WorkflowTuning

STANDIN_DATA_BUCKET = "emu-data"


def synth_standin_app(
    outdir: Path,
    *,
    prefix: str = "dtrain",
    fast: bool = True,
    stack_prefix: str = "Dtrain",
    cache: Path | Literal["env"] | None = "env",
    teams: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """The stand-in platform; `stack_prefix` names its stacks (`<p>StandIn`, `<p>Orchestration`)
    and its data bucket, so a second one (another prefix) deploys beside it in one emulator.
    `teams`: cdk.json's `teams` object ({"vision": {"instance_types": [...]}}: TeamConfig's
    fields); each team gets an execution role in the base stack and its own state machine and
    policy in the orchestration stack, as in the full app. None: the platform without teams.
    An unchanged tree is not synthesized again (dtrain.emulator.synth_cache; `cache` as in
    dtrain.emulator.platform_app.synth_for_emulator)."""
    arguments: dict[str, Any] = {"prefix": prefix, "fast": fast, "stack_prefix": stack_prefix}
    if teams:  # only then: the key of the platform without teams stays what it was
        arguments["teams"] = {name: dict(settings) for name, settings in teams.items()}
    synth = functools.partial(
        _synth_standin_app, prefix=prefix, fast=fast, stack_prefix=stack_prefix, teams=teams or {}
    )
    return cached_synth("standin-platform", arguments, synth, outdir, cache=cache)


def _synth_standin_app(
    outdir: Path, *, prefix: str, fast: bool, stack_prefix: str, teams: Mapping[str, Mapping[str, Any]]
) -> Path:
    """Long because it is one CDK app: the stand-in base stack (bucket, table, the job roles, one
    per team), the real orchestration stack on it, and the synth, in the order the CDK needs."""
    quiet_node_banners()  # before jsii's kernel starts
    import aws_cdk as cdk

    from dtrain.constructs.orchestration.workflow import WorkflowTuning  # lazy: CDK (jsii)
    from dtrain.constructs.orchestration_stack import (  # lazy: CDK (jsii)
        OrchestrationOptions,
        OrchestrationStack,
    )

    app = cdk.App(
        outdir=str(outdir),
        default_stack_synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
        context={"aws:cdk:bundling-stacks": ["**"]},
    )
    base_stack = cdk.Stack(app, f"{stack_prefix}StandIn")
    base = _standin_base(base_stack, stack_prefix)
    team_configs = [_team_config(name, settings) for name, settings in sorted(teams.items())]
    team_roles = {
        team.name: _job_role(
            base_stack,
            data=base.data,
            artifacts=base.artifacts,
            checkpoints=base.checkpoints,
            key=base.key,
            construct_id=f"Team{team.name.capitalize()}ExecutionRole",
            # Named as the full app names it: Submit passes the team's role by this name.
            role_name=team_names.execution_role_name(prefix, team.name),
        )
        for team in team_configs
    }
    OrchestrationStack(
        app,
        f"{stack_prefix}Orchestration",
        artifacts_bucket=base.artifacts,
        checkpoints_bucket=base.checkpoints,
        data_key=base.key,
        execution_role=base.role,
        vpc=base.vpc,
        subnets=base.vpc.isolated_subnets,
        training_security_group=base.security_group,
        image_uris={
            "ddp": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dtrain-ddp:latest",
            "horovod": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dtrain-horovod:latest",
        },
        options=OrchestrationOptions(
            job_name_prefix=prefix,
            removal_policy=cdk.RemovalPolicy.DESTROY,
            tuning=_fast_tuning() if fast else WorkflowTuning(),
            # Fast: the backoff inside Submit is short so the load test paces on the throttle.
            throttle_attempts=20 if fast else 8,
            throttle_base_s=0.2 if fast else 0.5,
            throttle_cap_s=2.0 if fast else 8.0,
        ),
        team_roles=team_roles,
        teams=team_configs,
    )
    assembly = app.synth()
    path = Path(assembly.directory)
    if not (path / "manifest.json").is_file():
        raise EmulatorError(f"synth wrote no manifest to {path}")
    return path


def _fast_tuning() -> WorkflowTuning:
    """The stand-in's state machine retries within seconds, not minutes."""
    from dtrain.constructs.orchestration.workflow import (  # lazy: CDK (jsii)
        RetryPacing,
        WorkflowTuning,
    )

    return WorkflowTuning(
        transient=RetryPacing(interval_s=1, attempts=2),
        throttle=RetryPacing(interval_s=1, attempts=8),
        capacity=RetryPacing(interval_s=1, attempts=60, max_delay_s=2),
        endpoint_busy=RetryPacing(interval_s=1, attempts=20, max_delay_s=2),
        notify=RetryPacing(interval_s=1, attempts=3),
    )


def _team_config(name: str, settings: Mapping[str, Any]) -> Any:
    """cdk.json's `teams.<name>` object as a TeamConfig (lists as tuples, as the config reads them)."""
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return TeamConfig(name=name, **fields)


@dataclass(frozen=True)
class _StandInBase:
    """What the stand-in's base stack gives the orchestration (CDK constructs)."""

    key: Any
    artifacts: Any
    checkpoints: Any
    role: Any
    vpc: Any
    security_group: Any
    data: Any


def _standin_base(base: Any, stack_prefix: str) -> _StandInBase:
    """The buckets, key, execution role and one-subnet VPC the stand-in's orchestration uses."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    key = kms.Key(base, "DataKey", enable_key_rotation=True, removal_policy=cdk.RemovalPolicy.DESTROY)
    artifacts = s3.Bucket(base, "Artifacts", encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY)
    checkpoints = s3.Bucket(base, "Checkpoints", encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY)
    # The data the e2e tests upload (a fixed name: tests create and fill it by that name).
    data_bucket = (
        STANDIN_DATA_BUCKET if stack_prefix == "Dtrain" else f"{STANDIN_DATA_BUCKET}-{stack_prefix.lower()}"
    )
    data = s3.Bucket(base, "Data", bucket_name=data_bucket, removal_policy=cdk.RemovalPolicy.DESTROY)
    role = _job_role(base, data=data, artifacts=artifacts, checkpoints=checkpoints, key=key)
    vpc = ec2.Vpc(
        base,
        "Vpc",
        max_azs=1,
        nat_gateways=0,
        restrict_default_security_group=False,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="jobs", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    sg = ec2.SecurityGroup(base, "TrainingSg", vpc=vpc)
    return _StandInBase(key, artifacts, checkpoints, role, vpc, sg, data)


def _job_role(
    base: Any,
    *,
    data: Any,
    artifacts: Any,
    checkpoints: Any,
    key: Any,
    construct_id: str = "ExecutionRole",
    role_name: str | None = None,
) -> Any:
    """What a job does with its execution role, enforced in the emulator: read its data, write its
    model and checkpoints (SSE-KMS with the data key), log and publish metrics, host its models."""
    from aws_cdk import aws_iam as iam

    from dtrain.constructs.hosting_permissions import add_hosting_permissions  # lazy: CDK (jsii)

    role = iam.Role(
        base, construct_id, role_name=role_name, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")
    )
    data.grant_read(role)
    artifacts.grant_read_write(role)
    checkpoints.grant_read_write(role)
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[
                "arn:aws:logs:*:*:log-group:/aws/sagemaker/TrainingJobs",
                "arn:aws:logs:*:*:log-group:/aws/sagemaker/TrainingJobs:*",
                # A spec's processing step (dtrain.emulator.processing_backend), as the real role.
                "arn:aws:logs:*:*:log-group:/aws/sagemaker/ProcessingJobs",
                "arn:aws:logs:*:*:log-group:/aws/sagemaker/ProcessingJobs:*",
            ],
        )
    )
    role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:PutMetricData"], resources=["*"]))
    add_hosting_permissions(role)  # the same role hosts the models it trained (endpoints, transform)
    role.add_to_policy(  # SageMaker's grant on the job's volume key
        iam.PolicyStatement(
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )
    return role
