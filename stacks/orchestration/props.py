"""What the Orchestration construct is built from: the platform's resources and its options.

The resources come from the network, storage and training constructs (or a team's own: any
IBucket, IKey, IRole, IVpc, ISubnet, ISecurityGroup); the options have documented defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from dtrain.config import TeamConfig
from dtrain.constructs.orchestration.workflow import WorkflowTuning


@dataclass(frozen=True)
class OrchestrationOptions:
    """How the orchestration behaves; every field has the default the platform deploys with."""

    # Every SageMaker resource the platform creates is named `<prefix>-...`; IAM is scoped to it.
    job_name_prefix: str = "dtrain"
    # Subscribed to the notification topic (executions' results, alarms) when given.
    notification_email: str | None = None
    # Training and processing jobs run in the platform's subnets (VpcConfig) when true.
    jobs_in_vpc: bool = True
    # Added to a job's max run time for its callback wait (dtrain.orchestration.timeouts).
    wait_margin_s: int = 3600
    # How often Reconcile closes the tokens of jobs whose state-change event was lost.
    reconcile_every: Duration = field(default_factory=lambda: Duration.minutes(5))
    # Submit's own retries of throttled SageMaker creates (dtrain.orchestration.backoff).
    throttle_attempts: int = 8
    throttle_base_s: float = 0.5
    throttle_cap_s: float = 8.0
    # Step Functions retry pacing (the emulator's tests shorten it).
    tuning: WorkflowTuning = field(default_factory=WorkflowTuning)
    # Tags and environment variables every job gets.
    tags: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    # The ledger, key and log groups outlive a deleted stack unless told otherwise.
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS


@dataclass(frozen=True)
class OrchestrationProps:
    """The platform resources the Lambdas' PlatformSettings name, and the options."""

    artifacts_bucket: s3.IBucket
    checkpoints_bucket: s3.IBucket
    # Encrypts the jobs' volumes and outputs (SageMaker creates grants on it for the instances).
    data_key: kms.IKey
    execution_role: iam.IRole
    vpc: ec2.IVpc
    subnets: Sequence[ec2.ISubnet]
    training_security_group: ec2.ISecurityGroup
    # Image URI per framework key (training_stack's images or a team's own).
    image_uris: Mapping[str, str]
    # `{"s3": "data", ...}` channels resolve under it when given.
    data_bucket: s3.IBucket | None = None
    fsx_id: str | None = None
    fsx_mount_name: str | None = None
    efs_id: str | None = None
    # The execution role may write only under these prefixes (storage/training stacks).
    output_prefix: str = "jobs"
    checkpoint_prefix: str = "jobs"
    options: OrchestrationOptions = field(default_factory=OrchestrationOptions)
    # A platform with teams: each team's execution role by team name (dtrain.team_names). Each
    # team then gets its own state machine `<prefix>-<team>` and scientists' policy, and
    # `execution_role` is only the base the Lambdas' settings name (for_team derives each
    # team's). Empty: no teams, the one state machine and policy of today.
    team_roles: Mapping[str, iam.IRole] = field(default_factory=dict)
    # The teams' configs, for their guardrails (issue 29): their limits go into the Lambdas'
    # settings (team_guardrails) and become Deny statements on the Submit role and each team's
    # scientists' policy (dtrain.constructs.team_guardrails). Empty, or teams without limits:
    # nothing is added.
    teams: Sequence[TeamConfig] = ()
