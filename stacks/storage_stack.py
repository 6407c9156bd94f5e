"""Storage: the data, artifacts and checkpoint buckets, their KMS key, FSx for Lustre and EFS."""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_fsx as fsx
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dtrain.config import DtrainConfig

# Training jobs write under one prefix per bucket, so the execution role's grants are scoped to it
# (PlatformSettings.output_s3_uri / checkpoint_s3_uri end in this prefix).
JOBS_PREFIX = "jobs"

# FSx for Lustre's LNet and server ports (988 for LNet, 1018-1023 for the Lustre servers).
LUSTRE_PORT_RANGES: tuple[tuple[int, int], ...] = ((988, 988), (1018, 1023))


# SageMaker mounts an EFS channel (FileSystemDataSource) from the training instance as a plain
# NFSv4.1 client: it does not use the EFS mount helper's IAM option, and "you must use the EFS
# mount helper ... to use IAM authorization" (EFS User Guide, "Using IAM to control access to
# file systems", https://docs.aws.amazon.com/efs/latest/ug/iam-access-control-nfs-efs.html).
# Such a client is anonymous, so an identity grant on the execution role never applies and a
# policy that admits only IAM-authorized principals refuses the mount. The statement therefore
# admits any client, but only through a mount target (elasticfilesystem:AccessedViaMountTarget,
# same page, "EFS condition keys for clients"); the mount targets live in this VPC's private
# subnets and their security group admits NFS only from the training security group, so the
# clients that get here are the training instances. Actions: ClientMount for `ro` channels,
# ClientWrite for `rw` channels (FileSystemAccessMode), ClientRootAccess because training
# containers run as root and EFS squashes uid 0 to an anonymous uid without it.
EFS_CLIENT_ACTIONS = (
    "elasticfilesystem:ClientMount",
    "elasticfilesystem:ClientWrite",
    "elasticfilesystem:ClientRootAccess",
)


def efs_mount_statement() -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="SageMakerMountsThroughMountTargets",
        principals=[iam.AnyPrincipal()],
        actions=list(EFS_CLIENT_ACTIONS),
        resources=["*"],  # in a file-system policy "*" means this file system
        conditions={"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
    )


# Server access logs are delivered under a bucket policy (the logging service principal), not an
# ACL grant: the log bucket enforces bucket-owner object ownership, which disables ACLs ("Permissions
# for server access log delivery", S3 User Guide,
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html#grant-log-delivery-permissions-general).
# The CDK writes that policy only under this feature flag, so the stack sets it for its own
# constructs: the team's app needs no flag of its own.
ACCESS_LOGS_BY_POLICY_FLAG = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


class StorageStack(Stack):
    """Typed outputs: `key`, `data_bucket`, `artifacts_bucket`, `checkpoints_bucket`,
    `access_log_bucket` (None when every bucket was brought), `s3_gateway` (None when
    `network.s3_gateway_endpoint` is false), `fsx_file_system` / `fsx_id` / `fsx_mount_name` /
    `fsx_data_path` (None when `fsx.enabled` is false), `efs_file_system` / `efs_id` (None when
    `efs.enabled` is false).

    Props (keyword arguments): `config` (DtrainConfig: `storage.*`, `fsx.*`, `efs.*`,
    `network.s3_gateway_endpoint`), the network's `vpc`, `private_subnets`, `private_subnet_ids`,
    `training_sg`, and what the team already has, each None by default (the platform makes its own,
    hardened: KMS, TLS only, no public access, access logs, lifecycle rules):
    - `key`: the KMS key for the platform's buckets, file systems and job volumes. An imported key
      (`kms.Key.from_key_arn`) keeps its own key policy: FSx's read of the data bucket through S3
      (the statement this stack adds to a key it owns) is then the team's to grant.
    - `data_bucket`, `artifacts_bucket`, `checkpoints_bucket`: buckets to use instead of making
      them; their settings stay the team's (the execution role's grants name them as they are).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DtrainConfig,
        vpc: ec2.IVpc,
        private_subnets: ec2.SubnetSelection,
        private_subnet_ids: list[str],
        training_sg: ec2.ISecurityGroup,
        key: kms.IKey | None = None,
        data_bucket: s3.IBucket | None = None,
        artifacts_bucket: s3.IBucket | None = None,
        checkpoints_bucket: s3.IBucket | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.node.set_context(ACCESS_LOGS_BY_POLICY_FLAG, True)  # before any child reads it
        self._config = config
        self._removal = RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY

        self.key: kms.IKey = (
            key
            if key is not None
            else kms.Key(
                self,
                "DataKey",
                description="dtrain: encrypts training data, artifacts, checkpoints and file systems",
                enable_key_rotation=True,
                removal_policy=self._removal,
            )
        )
        self._buckets(data_bucket, artifacts_bucket, checkpoints_bucket)

        self.s3_gateway: ec2.GatewayVpcEndpoint | None = (
            self._s3_gateway(vpc, private_subnets) if config.network.s3_gateway_endpoint else None
        )

        self.fsx_file_system: fsx.CfnFileSystem | None = None
        self.fsx_security_group: ec2.SecurityGroup | None = None
        self.fsx_id: str | None = None
        self.fsx_mount_name: str | None = None
        self.fsx_data_path: str | None = None
        if config.fsx.enabled:
            self._lustre(vpc=vpc, subnet_id=private_subnet_ids[0], training_sg=training_sg)

        self.efs_file_system: efs.FileSystem | None = None
        self.efs_id: str | None = None
        if config.efs.enabled:
            self._efs(vpc=vpc, private_subnets=private_subnets, training_sg=training_sg)

        self._outputs()

    def _buckets(
        self,
        data_bucket: s3.IBucket | None,
        artifacts_bucket: s3.IBucket | None,
        checkpoints_bucket: s3.IBucket | None,
    ) -> None:
        """The three job buckets: the team's where brought, else the platform's own (KMS with the
        data key, TLS only, access logs into one SSE-S3 log bucket, lifecycle rules)."""
        days = self._config.storage.checkpoint_noncurrent_days
        brought = (data_bucket, artifacts_bucket, checkpoints_bucket)
        self.access_log_bucket = self._access_log_bucket() if any(b is None for b in brought) else None
        self.data_bucket: s3.IBucket = (
            self._brought("DataBucket", data_bucket)
            if data_bucket is not None
            else self._bucket("DataBucket", versioned=False)
        )
        self.artifacts_bucket: s3.IBucket = (
            self._brought("ArtifactsBucket", artifacts_bucket)
            if artifacts_bucket is not None
            else self._bucket("ArtifactsBucket", versioned=True)
        )
        self.checkpoints_bucket: s3.IBucket = (
            self._brought("CheckpointsBucket", checkpoints_bucket)
            if checkpoints_bucket is not None
            else self._bucket(
                "CheckpointsBucket",
                versioned=True,
                extra_rules=[
                    # Every checkpoint save overwrites the same keys: old versions pile up fast.
                    s3.LifecycleRule(
                        id="expire-old-checkpoint-versions",
                        noncurrent_version_expiration=Duration.days(days),
                    )
                ],
            )
        )

    # -- the S3 gateway endpoint ---------------------------------------------------------------
    def _s3_gateway(self, vpc: ec2.IVpc, private_subnets: ec2.SubnetSelection) -> ec2.GatewayVpcEndpoint:
        """The private subnets' route to S3, here beside the buckets its policy names.

        Its default policy allows any action on any bucket of any account: a job could copy
        data out to a bucket of its own choosing. This one allows this account's principals
        (aws:PrincipalAccount) the platform's three buckets, and anyone ECR's layer bucket,
        which image pulls through the ECR endpoints read from (Amazon ECR User Guide, "Amazon
        ECR interface VPC endpoints (AWS PrivateLink)", "Minimum Amazon S3 bucket permissions
        for Amazon ECR": arn:aws:s3:::prod-<region>-starport-layer-bucket/*,
        https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html#ecr-setting-up-s3-gateway)."""
        endpoint = ec2.GatewayVpcEndpoint(
            self, "S3Gateway", vpc=vpc, service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[private_subnets]
        )
        buckets = [self.data_bucket, self.artifacts_bucket, self.checkpoints_bucket]
        endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="PlatformBucketsOnly",
                principals=[iam.AnyPrincipal()],
                actions=["s3:*"],
                resources=[arn for b in buckets for arn in (b.bucket_arn, b.arn_for_objects("*"))],
                conditions={"StringEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}},
            )
        )
        endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="EcrImageLayers",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[f"arn:{Aws.PARTITION}:s3:::prod-{Aws.REGION}-starport-layer-bucket/*"],
            )
        )
        return endpoint

    # -- buckets -----------------------------------------------------------------------------
    def _brought(self, construct_id: str, bucket: s3.IBucket) -> s3.IBucket:
        """A bucket the team brought, as a reference owned by this stack: the execution role's
        grants import its ARN through this stack's named exports (training_stack.exported_arn),
        whichever stack or account made the bucket, so the cdk-nag acknowledgments hold."""
        return s3.Bucket.from_bucket_attributes(
            self,
            construct_id,
            bucket_arn=bucket.bucket_arn,
            bucket_name=bucket.bucket_name,
            encryption_key=bucket.encryption_key,
        )

    def _access_log_bucket(self) -> s3.Bucket:
        # S3 server access logging cannot deliver into an SSE-KMS bucket: this one uses SSE-S3.
        return s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            removal_policy=self._removal,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(self._config.storage.access_log_expiration_days),
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )

    def _bucket(
        self, construct_id: str, *, versioned: bool, extra_rules: list[s3.LifecycleRule] | None = None
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            # One data key per bucket instead of one KMS call per object: large data sets stay cheap.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=versioned,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix=f"{construct_id}/",
            removal_policy=self._removal,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
                *(extra_rules or []),
            ],
        )

    # -- FSx for Lustre ----------------------------------------------------------------------
    def _lustre(self, *, vpc: ec2.IVpc, subnet_id: str, training_sg: ec2.ISecurityGroup) -> None:
        cfg = self._config.fsx
        persistent = cfg.deployment_type == "PERSISTENT_2"
        sg, rules = self._lustre_security_group(vpc, training_sg)

        s3_path = f"s3://{self.data_bucket.bucket_name}/{cfg.s3_prefix}"
        lustre = fsx.CfnFileSystem.LustreConfigurationProperty(
            deployment_type=cfg.deployment_type,
            data_compression_type="LZ4",
            weekly_maintenance_start_time="7:03:00",
            per_unit_storage_throughput=cfg.throughput_per_tib if persistent else None,
            # SCRATCH_2 links S3 through import/export paths; PERSISTENT_2 rejects them and uses
            # a data repository association instead (below).
            import_path=None if persistent else s3_path,
            auto_import_policy=None if persistent else "NEW_CHANGED_DELETED",
        )
        file_system = fsx.CfnFileSystem(
            self,
            "LustreFileSystem",
            file_system_type="LUSTRE",
            file_system_type_version="2.15",
            storage_type="SSD",
            storage_capacity=cfg.storage_capacity_gib,
            subnet_ids=[subnet_id],
            security_group_ids=[sg.security_group_id],
            # Scratch file systems are always encrypted with an FSx-managed key.
            kms_key_id=self.key.key_id if persistent else None,
            lustre_configuration=lustre,
        )
        file_system.apply_removal_policy(self._removal)
        for rule in rules:
            file_system.node.add_dependency(rule)

        if persistent:
            self._data_repository_association(file_system, s3_path)
        self._allow_fsx_to_read_data_bucket()

        self.fsx_file_system = file_system
        self.fsx_security_group = sg
        self.fsx_id = file_system.ref
        self.fsx_mount_name = file_system.attr_lustre_mount_name
        # SCRATCH_2 imports the prefix at the file system root.
        self.fsx_data_path = cfg.file_system_path if persistent else "/"

    def _lustre_security_group(
        self, vpc: ec2.IVpc, training_sg: ec2.ISecurityGroup
    ) -> tuple[ec2.SecurityGroup, list[ec2.CfnSecurityGroupIngress]]:
        """The file system's group, admitting the Lustre ports from the training group and itself."""
        sg = ec2.SecurityGroup(
            self,
            "FsxSecurityGroup",
            vpc=vpc,
            description="dtrain FSx for Lustre: Lustre ports from the training security group and itself",
            allow_all_outbound=True,
        )
        # Rules as separate resources so the file system can depend on each one: FSx checks the
        # group's rules when it creates the file system and fails if they are not there yet.
        rules: list[ec2.CfnSecurityGroupIngress] = []
        for low, high in LUSTRE_PORT_RANGES:
            for peer_name, peer in (("Training", training_sg), ("Self", sg)):
                rules.append(
                    ec2.CfnSecurityGroupIngress(
                        self,
                        f"Lustre{low}From{peer_name}",
                        group_id=sg.security_group_id,
                        ip_protocol="tcp",
                        from_port=low,
                        to_port=high,
                        source_security_group_id=peer.security_group_id,
                        description=f"Lustre {low}-{high} from the {peer_name.lower()} security group",
                    )
                )
        return sg, rules

    def _data_repository_association(self, file_system: fsx.CfnFileSystem, s3_path: str) -> None:
        """PERSISTENT_2 links the data bucket's prefix through a data repository association."""
        fsx.CfnDataRepositoryAssociation(
            self,
            "DataRepositoryAssociation",
            file_system_id=file_system.ref,
            file_system_path=self._config.fsx.file_system_path,
            data_repository_path=s3_path,
            batch_import_meta_data_on_create=True,
            # Import only: the data bucket is the source of truth, jobs write to the artifacts bucket.
            s3=fsx.CfnDataRepositoryAssociation.S3Property(
                auto_import_policy=fsx.CfnDataRepositoryAssociation.AutoImportPolicyProperty(
                    events=["NEW", "CHANGED", "DELETED"]
                )
            ),
        )

    def _allow_fsx_to_read_data_bucket(self) -> None:
        # FSx reads the linked bucket through its S3-access service-linked role (one per file
        # system, named after the file system id, so it cannot be named here without a cycle).
        # The statement is limited to that role path and to calls S3 makes on its behalf in this
        # account. (Naming the data bucket in an encryption-context condition would make the key
        # depend on the bucket that depends on the key: a cycle.)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="FsxLustreS3AccessThroughS3",
                principals=[iam.AnyPrincipal()],
                actions=["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    "StringLike": {
                        "aws:PrincipalArn": (
                            f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/aws-service-role/"
                            "s3.data-source.lustre.fsx.amazonaws.com/AWSServiceRoleForFSxS3Access_*"
                        ),
                    },
                    "StringEquals": {
                        "kms:CallerAccount": Aws.ACCOUNT_ID,
                        "kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com",
                    },
                },
            )
        )

    # -- EFS ---------------------------------------------------------------------------------
    def _efs(
        self, *, vpc: ec2.IVpc, private_subnets: ec2.SubnetSelection, training_sg: ec2.ISecurityGroup
    ) -> None:
        sg = ec2.SecurityGroup(
            self,
            "EfsSecurityGroup",
            vpc=vpc,
            description="dtrain EFS: NFS from the training security group only",
            allow_all_outbound=False,
        )
        sg.add_ingress_rule(training_sg, ec2.Port.tcp(2049), "NFS from training instances")
        policy = iam.PolicyDocument(statements=[efs_mount_statement()])
        file_system = efs.FileSystem(
            self,
            "SharedFileSystem",
            vpc=vpc,
            vpc_subnets=private_subnets,
            security_group=sg,
            encrypted=True,
            kms_key=self.key,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            throughput_mode=efs.ThroughputMode.ELASTIC,
            enable_automatic_backups=True,
            file_system_policy=policy,
            # The statement above is the whole policy: CDK's deny-anonymous default would add a
            # ClientRootAccess/ClientWrite statement without ClientMount beside it.
            allow_anonymous_access=True,
            removal_policy=self._removal,
        )
        self.efs_file_system = file_system
        self.efs_id = file_system.file_system_id

    # -- outputs -----------------------------------------------------------------------------
    def _outputs(self) -> None:
        CfnOutput(
            self, "DataBucketName", value=self.data_bucket.bucket_name, description="Training data bucket"
        )
        CfnOutput(
            self,
            "ArtifactsBucketName",
            value=self.artifacts_bucket.bucket_name,
            description="Model artifacts bucket",
        )
        CfnOutput(
            self,
            "CheckpointsBucketName",
            value=self.checkpoints_bucket.bucket_name,
            description="Checkpoints bucket (spot resume)",
        )
        CfnOutput(
            self,
            "OutputS3Uri",
            value=f"s3://{self.artifacts_bucket.bucket_name}/{JOBS_PREFIX}",
            description="Base S3 URI for job output (PlatformSettings.output_s3_uri)",
        )
        CfnOutput(
            self,
            "CheckpointS3Uri",
            value=f"s3://{self.checkpoints_bucket.bucket_name}/{JOBS_PREFIX}",
            description="Base S3 URI for checkpoints (PlatformSettings.checkpoint_s3_uri)",
        )
        CfnOutput(self, "KmsKeyArn", value=self.key.key_arn, description="KMS key for volumes and output")
        if self.fsx_id is not None and self.fsx_mount_name is not None and self.fsx_data_path is not None:
            CfnOutput(self, "FsxFileSystemId", value=self.fsx_id, description="FSx for Lustre file system id")
            CfnOutput(
                self, "FsxMountName", value=self.fsx_mount_name, description="FSx for Lustre mount name"
            )
            CfnOutput(
                self,
                "FsxDataPath",
                value=self.fsx_data_path,
                description="Path inside the Lustre file system linked to the data bucket prefix",
            )
        if self.efs_id is not None:
            CfnOutput(self, "EfsFileSystemId", value=self.efs_id, description="EFS file system id")
