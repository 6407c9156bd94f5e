"""Training: the SageMaker execution role and the packaged training images (ECR assets).

The role can do what a training job does and nothing more: read the data bucket, read/write its
own prefix of the artifacts and checkpoint buckets, pull the images, write its logs and metrics,
manage the network interfaces VPC mode needs, mount the file systems; and host the models it
trained (stacks/hosting_permissions.py). It holds no iam:PassRole.
"""

from __future__ import annotations

import os

from aws_cdk import Aws, CfnOutput, DefaultStackSynthesizer, Fn, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dtrain import team_names
from dtrain.config import DtrainConfig
from dtrain.constructs.hosting_permissions import add_hosting_permissions
from dtrain.jobspec.inference_images import dlc_build_args
from dtrain.package_data import training_code_dir

TRAINING_CODE_DIR = training_code_dir()

# Packaged images: build context training_code/, Dockerfile at <image>/Dockerfile.
IMAGES: dict[str, str] = {"ddp": "DdpImage", "horovod": "HorovodImage"}
# The images built FROM a Deep Learning Container (the horovod image builds on nvidia/cuda).
DLC_BASED_IMAGES = ("ddp",)


def image_build_args(image: str, stack_region: str) -> dict[str, str] | None:
    """The DLC registry of the region the image is built for: the stack's own region when its
    environment is explicit, else the one the CDK CLI deploys to (CDK_DEFAULT_REGION, which it
    sets for the app); None (the Dockerfile's us-east-1 defaults) when neither is known. A base
    pulled from another region's registry fails in regions whose DLCs live in another account
    and in the China and GovCloud partitions, whose credentials cannot reach us-east-1."""
    if image not in DLC_BASED_IMAGES:
        return None
    region = stack_region if not Token.is_unresolved(stack_region) else os.environ.get("CDK_DEFAULT_REGION")
    return dlc_build_args(region) if region else None


# Never part of an image: caches, tests, local data. Keeps the asset hash stable across test runs.
IMAGE_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/.hypothesis",
    "**/tests",
    "**/test_*.py",
    "**/*.egg-info",
    "**/data/cache",
    "**/.DS_Store",
]

SAGEMAKER_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# Where `dtrain submit` uploads a local source_dir: <artifacts bucket>/<job>/source/sourcedir.tar.gz.
SOURCE_TARBALL_PATTERN = "*/source/sourcedir.tar.gz"
# `dtrain submit` uploads a spec's local processing script beside it (dtrain.remote.source_upload).
PROCESSING_CODE_PATTERN = "*/source/processing/*"
# ... and a deploy / transform block's local inference code, which the Submit Lambda's `model`
# phase repacks into the trained model (dtrain.orchestration.model_repack).
INFERENCE_CODE_PATTERN = "*/source/inference/sourcedir.tar.gz"
SAGEMAKER_PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def exported_arn(bucket: s3.IBucket, name: str) -> str:
    """The bucket's ARN through a named export of its stack (`<StackName>:<name>`).

    Named, not CDK's hashed export, so the cdk-nag acknowledgments for `<arn>/prefix/*` object
    resources can be written as the exact finding ids without copying generated hashes.
    """
    producer = Stack.of(bucket)
    full_name = export_name(producer.stack_name, name)
    if producer.node.try_find_child(f"Export{full_name}") is not None:  # exported for another consumer
        return Fn.import_value(full_name)
    return producer.export_value(bucket.bucket_arn, name=full_name)


# CDK's context key for the bootstrap qualifier (DefaultStackSynthesizer reads it when no
# qualifier is given): a platform bootstrapped with its own qualifier has an image repository
# of its own (docs/platform-team.md, the security baseline's bootstrap-repository row).
BOOTSTRAP_QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"


def bootstrap_qualifier(scope: Construct) -> str:
    value = scope.node.try_get_context(BOOTSTRAP_QUALIFIER_CONTEXT)
    return str(value) if value else DefaultStackSynthesizer.DEFAULT_QUALIFIER


def export_name(stack_name: str, name: str) -> str:
    return f"{stack_name}:{name}"


class TrainingStack(Stack):
    """Typed outputs: `execution_role` (iam.Role), `images` (name -> DockerImageAsset),
    `image_uris` (name -> image URI string, keys "ddp" and "horovod"), `team_roles` (team ->
    iam.Role).

    A platform with teams (config.has_teams) has one execution role per team instead of the one
    role, named `<prefix>-<team>-execution` (dtrain.team_names) and scoped to the team's S3 prefix
    `teams/<team>/` in each bucket and to its jobs' names `<prefix>-<team>-*` (their log streams,
    their endpoints' log groups); `execution_role` is then the first team's (name order). Without
    teams, `team_roles` is {"default": execution_role} and the template is the one it always was."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DtrainConfig,
        vpc: ec2.IVpc,
        key: kms.IKey,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        checkpoints_bucket: s3.IBucket,
        fsx_id: str | None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        pulled = self._images(config)
        self.team_roles: dict[str, iam.Role] = {}
        for team in config.teams:
            scoped = None if team.implicit else team.name
            role = self._execution_role(config, scoped)
            self.team_roles[team.name] = role
            self._grant_storage(role, data_bucket, artifacts_bucket, checkpoints_bucket, key, scoped)
            for repository in pulled:
                repository.grant_pull(role)
            self._grant_volumes_logs_and_metrics(role, config, key, scoped)
            self._grant_vpc_mode(role, vpc, fsx_id)
            if scoped is not None:
                CfnOutput(
                    self,
                    team_names.output_id(scoped, "ExecutionRoleArn"),
                    value=role.role_arn,
                    description=f"SageMaker execution role of team {scoped}",
                )
        self.execution_role = next(iter(self.team_roles.values()))
        CfnOutput(
            self,
            "ExecutionRoleArn",
            value=self.execution_role.role_arn,
            description="SageMaker execution role" + (" (the first team's)" if config.has_teams else ""),
        )
        CfnOutput(self, "DdpImageUri", value=self.image_uris["ddp"], description="Packaged PyTorch DDP image")
        CfnOutput(
            self, "HorovodImageUri", value=self.image_uris["horovod"], description="Packaged Horovod image"
        )

    def _images(self, config: DtrainConfig) -> list[ecr.IRepository]:
        """The packaged images (assets, or unpushed URIs in emulator mode) and the repositories pulled."""
        # In emulator mode the images are not assets: `cdk deploy` against the emulator has no
        # registry to push to (and may have no Docker), and local mode runs training_code/<image>/
        # for these URIs instead; the role keeps the same pull grant on the same repository.
        self.images: dict[str, ecr_assets.DockerImageAsset] = (
            {}
            if config.emulator
            else {
                name: ecr_assets.DockerImageAsset(
                    self,
                    construct_id_,
                    directory=str(TRAINING_CODE_DIR),
                    file=f"{name}/Dockerfile",
                    exclude=IMAGE_EXCLUDES,
                    platform=ecr_assets.Platform.LINUX_AMD64,
                    build_args=image_build_args(name, self.region),
                )
                for name, construct_id_ in IMAGES.items()
            }
        )
        self.image_uris: dict[str, str] = {name: asset.image_uri for name, asset in self.images.items()}
        pulled: list[ecr.IRepository] = [asset.repository for asset in self.images.values()]
        if config.emulator:
            # The bootstrap stack's image repository, which the assets would have been pushed to;
            # the URIs take the synthesizer's own short Fn::Sub form (they travel in the Lambdas'
            # 4 KB environment).
            qualifier = bootstrap_qualifier(self)
            repository_name = f"cdk-{qualifier}-container-assets-${{AWS::AccountId}}-${{AWS::Region}}"
            unpushed = ecr.Repository.from_repository_name(self, "ImageRepository", Fn.sub(repository_name))
            self.image_uris = {
                name: Fn.sub(
                    f"${{AWS::AccountId}}.dkr.ecr.${{AWS::Region}}.${{AWS::URLSuffix}}/{repository_name}:{name}-not-pushed"
                )
                for name in IMAGES
            }
            pulled = [unpushed]

        return pulled

    def _execution_role(self, config: DtrainConfig, team: str | None) -> iam.Role:
        """The role SageMaker assumes for the platform's jobs (`team`: that team's jobs only)."""
        return iam.Role(
            self,
            "SageMakerExecutionRole" if team is None else f"Team{team.capitalize()}ExecutionRole",
            # Named for a team, so Submit derives its ARN (dtrain.team_names) and a platform team
            # finds it; the one role of a platform without teams keeps its generated name.
            role_name=None if team is None else team_names.execution_role_name(config.job_name_prefix, team),
            description="dtrain: assumed by SageMaker training jobs"
            + ("" if team is None else f" of team {team}"),
            # Confused-deputy guard: only SageMaker acting for this account may assume the role.
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
        )

    def _grant_storage(
        self,
        role: iam.Role,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        checkpoints_bucket: s3.IBucket,
        key: kms.IKey,
        team: str | None,
    ) -> None:
        """Read the data, write job output and checkpoints, read job sources, use the stack key;
        a team's role only under its prefix `teams/<team>/` of each bucket (team_names.s3_prefix)."""
        data_arn = exported_arn(data_bucket, "DataBucketArn")
        artifacts_arn = exported_arn(artifacts_bucket, "ArtifactsBucketArn")
        checkpoints_arn = exported_arn(checkpoints_bucket, "CheckpointsBucketArn")
        own, jobs = team_names.s3_prefix(team), team_names.jobs_prefix(team)
        # Exact actions instead of the grant_* helpers' wildcards (s3:GetObject*, s3:List*, ...).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTrainingData",
                actions=["s3:GetObject"],
                resources=[f"{data_arn}/{own}*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListTrainingData",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[data_arn],
                # A team lists only its own keys (s3:prefix, the ListObjects request's Prefix:
                # Service Authorization Reference, "Condition keys for Amazon S3").
                conditions=None if team is None else {"StringLike": {"s3:prefix": [own, f"{own}*"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadWriteJobOutputAndCheckpoints",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[f"{artifacts_arn}/{jobs}/*", f"{checkpoints_arn}/{jobs}/*"],
            )
        )
        self._grant_sources_and_key(role, artifacts_arn, checkpoints_arn, key, team)

    def _grant_sources_and_key(
        self, role: iam.Role, artifacts_arn: str, checkpoints_arn: str, key: kms.IKey, team: str | None
    ) -> None:
        """Read the code the CLI uploads, list job outputs and checkpoints, use the stack key."""
        # The CLI uploads a job's local source_dir to <artifacts>/<job>/source/sourcedir.tar.gz
        # (SDK v2's layout, see the interfaces), a team's under teams/<team>/: read-only, and only
        # that file name.
        own, jobs = team_names.s3_prefix(team), team_names.jobs_prefix(team)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadJobSourceTarballs",
                actions=["s3:GetObject"],
                resources=[
                    f"{artifacts_arn}/{own}{SOURCE_TARBALL_PATTERN}",
                    f"{artifacts_arn}/{own}{PROCESSING_CODE_PATTERN}",
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListJobOutputAndCheckpoints",
                actions=["s3:ListBucket"],
                resources=[artifacts_arn, checkpoints_arn],
                conditions={
                    "StringLike": {
                        "s3:prefix": [
                            jobs,
                            f"{jobs}/*",
                            f"{own}{SOURCE_TARBALL_PATTERN}",
                            f"{own}{PROCESSING_CODE_PATTERN}",
                        ]
                    }
                },
            )
        )
        # SSE-KMS with the stack key: objects, output and volumes.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseStackKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[key.key_arn],
            )
        )

    def _grant_volumes_logs_and_metrics(
        self, role: iam.Role, config: DtrainConfig, key: kms.IKey, team: str | None
    ) -> None:
        """Encrypted volumes, the jobs' log streams and metrics, and hosting what they trained;
        a team's role writes only its own jobs' streams and its own endpoints' log groups.
        Long because it is one flat list of statements, each with the AWS rule it follows."""
        names = team_names.resource_prefix(config.job_name_prefix, team)
        # EBS attaches encrypted training volumes through a grant it creates for the instance.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="KmsGrantsForTrainingVolumes",
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TrainingJobLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                # The group (CreateLogGroup, DescribeLogStreams) and only this platform's jobs'
                # streams: SageMaker names them `<job>/algo-<n>-<epoch>` ("Log groups and streams
                # that Amazon SageMaker AI sends to Amazon CloudWatch Logs").
                resources=[
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{SAGEMAKER_LOG_GROUP}",
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{SAGEMAKER_LOG_GROUP}"
                    f":log-stream:{names}-*",
                ],
            )
        )
        # A processing job's logs (the spec's processing step), written with the same role.
        logs_head = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group"
        processing_logs = f"{logs_head}:{SAGEMAKER_PROCESSING_LOG_GROUP}"
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ProcessingJobLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                # A team's: its processing jobs' streams only (`<job>/...`, as training's).
                resources=[
                    processing_logs,
                    f"{processing_logs}:*" if team is None else f"{processing_logs}:log-stream:{names}-*",
                ],
            )
        )
        # Models trained here are hosted (endpoints, transform jobs) with this same role.
        add_hosting_permissions(role, None if team is None else names)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TrainingJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                # AWS requires "*": PutMetricData has no resource-level permissions; the namespace
                # condition is the scoping it supports.
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )

    def _grant_vpc_mode(self, role: iam.Role, vpc: ec2.IVpc, fsx_id: str | None) -> None:
        """What a job in the VPC needs: describe the network, manage its interfaces, read FSx."""
        role.add_to_policy(
            iam.PolicyStatement(
                sid="VpcModeDescribe",
                actions=[
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ],
                # AWS requires "*": EC2 Describe* calls have no resource-level permissions.
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="VpcModeNetworkInterfaces",
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                ],
                # The interfaces do not exist before the job creates them, so their ARNs cannot be
                # listed; "*" is scoped by the VPC condition to interfaces in our VPC.
                resources=["*"],
                conditions={
                    "ArnEquals": {
                        "ec2:Vpc": f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpc/{vpc.vpc_id}"
                    }
                },
            )
        )
        # No EFS grant here: SageMaker's EFS mount is not IAM-authenticated, so the file-system
        # policy decides it alone (storage_stack.efs_mount_statement says why).
        if fsx_id is not None:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="FsxDescribe",
                    actions=["fsx:DescribeFileSystems"],
                    # AWS requires "*": DescribeFileSystems is a list call without resource-level scoping.
                    resources=["*"],
                )
            )
