"""cdk-nag acknowledgments for the platform stacks, each with the reason a reviewer can check.

cdk-nag 3.x wants one acknowledgment per finding id (`AwsSolutions-IAM5[Resource::...]`), so each
entry below names exactly one wildcard and says why it is needed. The test suite fails on any
unacknowledged finding and on any acknowledgment that no longer matches a finding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations

from dtrain import team_names
from dtrain.constructs.hosting_permissions import ENDPOINT_LOG_GROUP, TRANSFORM_LOG_GROUP
from dtrain.constructs.training_stack import (
    PROCESSING_CODE_PATTERN,
    SAGEMAKER_LOG_GROUP,
    SAGEMAKER_PROCESSING_LOG_GROUP,
    SOURCE_TARBALL_PATTERN,
    export_name,
)

if TYPE_CHECKING:
    from dtrain.constructs.platform import DtrainPlatform


def execution_role_acknowledgments(
    storage_stack_name: str, job_name_prefix: str, team: str | None = None
) -> list[Acknowledgment]:
    """The execution role's wildcard findings (`team`: that team's role, scoped to its S3 prefix
    and names, dtrain.team_names). Long because it is one flat list: one acknowledgment per
    finding, each with the reason a reviewer checks, read top to bottom."""
    own, jobs = team_names.s3_prefix(team), team_names.jobs_prefix(team)
    names = team_names.resource_prefix(job_name_prefix, team)
    whose = "" if team is None else f" (team {team}'s prefix {own} only)"

    def iam5(resource: str, reason: str) -> Acknowledgment:
        return Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{resource}]", reason=reason)

    def bucket(name: str) -> str:
        return export_name(storage_stack_name, name)

    return [
        iam5(
            f"{bucket('DataBucketArn')}/{own}*",
            "Training jobs read any object of the dedicated training-data bucket (s3:GetObject only); "
            f"data set keys are chosen per job spec and are not known at deploy time{whose}.",
        ),
        iam5(
            f"{bucket('ArtifactsBucketArn')}/{jobs}/*",
            f"Each job writes its model and sources under {jobs}/<job-name>/, a name chosen at "
            "submit time; the grant is limited to that prefix of the artifacts bucket.",
        ),
        iam5(
            f"{bucket('ArtifactsBucketArn')}/{own}{SOURCE_TARBALL_PATTERN}",
            "Jobs read their uploaded code at <job-name>/source/sourcedir.tar.gz (the SDK v2 layout the "
            f"CLI follows); read-only, and only that file name, for job names chosen at submit time{whose}.",
        ),
        iam5(
            f"{bucket('ArtifactsBucketArn')}/{own}{PROCESSING_CODE_PATTERN}",
            "Processing jobs read the script `dtrain submit` uploaded to <execution>/source/processing/ "
            f"(an execution name chosen at submit time); read-only, under that folder only{whose}.",
        ),
        iam5(
            f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{SAGEMAKER_PROCESSING_LOG_GROUP}:*"
            if team is None
            else f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            f"{SAGEMAKER_PROCESSING_LOG_GROUP}:log-stream:{names}-*",
            "SageMaker writes one log stream per processing host into its fixed log group; stream names "
            "are created by the service per job (`<job>/...`), so only the log group (a team: its jobs' "
            "name prefix) can be named.",
        ),
        iam5(
            f"{bucket('CheckpointsBucketArn')}/{jobs}/*",
            f"Each job syncs checkpoints under {jobs}/<job-name>/, a name chosen at submit time; "
            "the grant is limited to that prefix of the checkpoints bucket.",
        ),
        iam5(
            f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{SAGEMAKER_LOG_GROUP}"
            f":log-stream:{names}-*",
            "SageMaker writes one log stream per training host (<job>/algo-N-<epoch>) into its fixed log "
            "group; the grant is limited to the streams of this platform's jobs (its job-name prefix).",
        ),
        iam5(
            f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{ENDPOINT_LOG_GROUP}/"
            + ("*" if team is None else f"{names}-*"),
            "SageMaker writes an endpoint's logs to a log group named after the endpoint, whose name comes "
            "from the job spec at run time; the grant is limited to SageMaker's endpoint log groups "
            "(a team's: its endpoints' names).",
        ),
        iam5(
            f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{TRANSFORM_LOG_GROUP}:*",
            "SageMaker writes one log stream per transform instance into its fixed log group; stream names "
            "are created by the service per job, so only the log group can be named.",
        ),
        iam5(
            "*",
            "AWS requires Resource '*' for every action in these statements: ecr:GetAuthorizationToken, "
            "cloudwatch:PutMetricData (scoped by a namespace condition), ec2:Describe* (no resource-level "
            "permissions), fsx:DescribeFileSystems, and the ENI create/delete calls VPC mode makes for "
            "interfaces that do not exist yet (scoped by an ec2:Vpc condition to our VPC).",
        ),
    ]


def acknowledge_platform(platform: DtrainPlatform) -> None:
    for team in platform.config.teams:
        Validations.of(platform.training.team_roles[team.name]).acknowledge(
            *execution_role_acknowledgments(
                platform.storage.stack_name,
                platform.config.job_name_prefix,
                None if team.implicit else team.name,
            )
        )
