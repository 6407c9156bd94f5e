"""OrchestrationStack: the Orchestration construct (stacks/orchestration/construct.py) in a stack
of its own, as app.py deploys it.

The constructor keeps the keyword arguments it always took; they become OrchestrationProps. The
construct's id is "Default", so its resources keep the logical ids they had when the stack held
them directly (CDK leaves a "Default" id out of logical ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dtrain.config import TeamConfig
from dtrain.constructs.orchestration.construct import Orchestration
from dtrain.constructs.orchestration.props import OrchestrationOptions, OrchestrationProps

__all__ = ["OrchestrationOptions", "OrchestrationProps", "OrchestrationStack"]


class OrchestrationStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str = "DtrainOrchestration",
        *,
        artifacts_bucket: s3.IBucket,
        checkpoints_bucket: s3.IBucket,
        data_key: kms.IKey,
        data_bucket: s3.IBucket | None = None,
        execution_role: iam.IRole,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        training_security_group: ec2.ISecurityGroup,
        image_uris: Mapping[str, str],
        fsx_id: str | None = None,
        fsx_mount_name: str | None = None,
        efs_id: str | None = None,
        output_prefix: str = "jobs",
        checkpoint_prefix: str = "jobs",
        options: OrchestrationOptions | None = None,
        team_roles: Mapping[str, iam.IRole] | None = None,
        teams: Sequence[TeamConfig] = (),
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        props = OrchestrationProps(
            artifacts_bucket=artifacts_bucket,
            checkpoints_bucket=checkpoints_bucket,
            data_key=data_key,
            data_bucket=data_bucket,
            execution_role=execution_role,
            vpc=vpc,
            subnets=subnets,
            training_security_group=training_security_group,
            image_uris=image_uris,
            fsx_id=fsx_id,
            fsx_mount_name=fsx_mount_name,
            efs_id=efs_id,
            output_prefix=output_prefix,
            checkpoint_prefix=checkpoint_prefix,
            options=options or OrchestrationOptions(),
            team_roles=dict(team_roles or {}),
            teams=tuple(teams),
        )
        self.orchestration = Orchestration(self, "Default", props)
        o = self.orchestration
        # The construct's parts, where code and tests reached them on the stack.
        self.options = o.options
        self.key, self.ledger, self.topic, self.state_machine = o.key, o.ledger, o.topic, o.state_machine
        self.functions = o.functions
        self.submit_fn, self.job_events_fn, self.reconcile_fn = o.submit_fn, o.job_events_fn, o.reconcile_fn
        self.abort_fn, self.finalize_fn = o.abort_fn, o.finalize_fn
        self.submitter_policy = o.submitter_policy
        self.team_state_machines, self.team_policies = o.team_state_machines, o.team_policies
        self.platform_json, self.submit_env_bytes = o.platform_json, o.submit_env_bytes
        self.metrics_namespace, self.alarm_name_prefix = o.metrics_namespace, o.alarm_name_prefix
