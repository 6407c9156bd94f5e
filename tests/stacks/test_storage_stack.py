"""Storage stack: encrypted TLS-only buckets, FSx for Lustre PERSISTENT_2 + DRA, EFS for the training SG."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

BUCKETS = ("DataBucket", "ArtifactsBucket", "CheckpointsBucket")


def resources(template: Template, type_: str) -> dict[str, Any]:
    return dict(template.find_resources(type_))


def logical_id(template: Template, type_: str, prefix: str) -> str:
    (found,) = [k for k in resources(template, type_) if k.startswith(prefix)]
    return found


def bucket(template: Template, prefix: str) -> dict[str, Any]:
    props: dict[str, Any] = resources(template, "AWS::S3::Bucket")[
        logical_id(template, "AWS::S3::Bucket", prefix)
    ]["Properties"]
    return props


@pytest.mark.parametrize("name", BUCKETS)
def test_job_buckets_use_the_stack_kms_key(templates: dict[str, Template], name: str) -> None:
    storage = templates["storage"]
    key_id = logical_id(storage, "AWS::KMS::Key", "DataKey")
    (rule,) = bucket(storage, name)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True


@pytest.mark.parametrize("name", (*BUCKETS, "AccessLogBucket"))
def test_every_bucket_blocks_public_access_and_denies_plain_http(
    templates: dict[str, Template], name: str
) -> None:
    storage = templates["storage"]
    assert bucket(storage, name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    bucket_id = logical_id(storage, "AWS::S3::Bucket", name)
    policies = [
        p["Properties"]
        for p in resources(storage, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (policy,) = policies
    statements = policy["PolicyDocument"]["Statement"]
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": Match.any_value(),
    }.keys() <= next(
        s for s in statements if s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ).keys()
    tls = [s for s in statements if s["Effect"] == "Deny" and "NumericLessThan" in s.get("Condition", {})]
    assert tls and tls[0]["Condition"]["NumericLessThan"] == {"s3:TlsVersion": 1.2}


def test_access_log_bucket_uses_sse_s3_because_log_delivery_cannot_use_kms(
    templates: dict[str, Template],
) -> None:
    (rule,) = bucket(templates["storage"], "AccessLogBucket")["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


@pytest.mark.parametrize("name", BUCKETS)
def test_job_buckets_log_to_the_access_log_bucket(templates: dict[str, Template], name: str) -> None:
    storage = templates["storage"]
    logs_id = logical_id(storage, "AWS::S3::Bucket", "AccessLogBucket")
    assert bucket(storage, name)["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": f"{name}/",
    }


def test_versioning_on_artifacts_and_checkpoints_only(templates: dict[str, Template]) -> None:
    storage = templates["storage"]
    assert bucket(storage, "ArtifactsBucket")["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket(storage, "CheckpointsBucket")["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "VersioningConfiguration" not in bucket(storage, "DataBucket")


def test_old_checkpoint_versions_expire(templates: dict[str, Template]) -> None:
    rules = bucket(templates["storage"], "CheckpointsBucket")["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert expiring == [
        {
            "Id": "expire-old-checkpoint-versions",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
            "Status": "Enabled",
        }
    ]


def test_kms_key_rotates_and_is_retained(templates: dict[str, Template]) -> None:
    storage = templates["storage"]
    storage.has_resource(
        "AWS::KMS::Key", {"Properties": {"EnableKeyRotation": True}, "DeletionPolicy": "Retain"}
    )


def test_lustre_is_persistent_2_in_one_private_subnet_encrypted_with_the_key(
    templates: dict[str, Template],
) -> None:
    storage = templates["storage"]
    key_id = logical_id(storage, "AWS::KMS::Key", "DataKey")
    (fs,) = resources(storage, "AWS::FSx::FileSystem").values()
    props = fs["Properties"]
    assert props["FileSystemType"] == "LUSTRE"
    assert props["StorageCapacity"] == 1200
    assert len(props["SubnetIds"]) == 1
    assert props["KmsKeyId"] == {"Ref": key_id}
    lustre = props["LustreConfiguration"]
    assert lustre["DeploymentType"] == "PERSISTENT_2"
    assert lustre["PerUnitStorageThroughput"] == 125
    # PERSISTENT_2 rejects importPath: S3 is linked by a data repository association instead.
    assert "ImportPath" not in lustre and "ExportPath" not in lustre


def test_lustre_links_the_data_bucket_prefix_through_a_dra(templates: dict[str, Template]) -> None:
    storage = templates["storage"]
    fs_id = logical_id(storage, "AWS::FSx::FileSystem", "LustreFileSystem")
    data_id = logical_id(storage, "AWS::S3::Bucket", "DataBucket")
    storage.has_resource_properties(
        "AWS::FSx::DataRepositoryAssociation",
        {
            "FileSystemId": {"Ref": fs_id},
            "FileSystemPath": "/datasets",
            "DataRepositoryPath": {"Fn::Join": ["", ["s3://", {"Ref": data_id}, "/datasets/"]]},
            "BatchImportMetaDataOnCreate": True,
            "S3": {"AutoImportPolicy": {"Events": ["NEW", "CHANGED", "DELETED"]}},
        },
    )


def test_lustre_sg_admits_lustre_ports_from_training_sg_and_fs_waits_for_the_rules(
    templates: dict[str, Template],
) -> None:
    storage = templates["storage"]
    fsx_sg = logical_id(storage, "AWS::EC2::SecurityGroup", "FsxSecurityGroup")
    rules = {
        k: v["Properties"]
        for k, v in resources(storage, "AWS::EC2::SecurityGroupIngress").items()
        if v["Properties"]["GroupId"] == {"Fn::GetAtt": [fsx_sg, "GroupId"]}
    }
    from_training = sorted(
        (r["FromPort"], r["ToPort"])
        for r in rules.values()
        if "ImportValue" in str(r["SourceSecurityGroupId"])
    )
    from_self = sorted(
        (r["FromPort"], r["ToPort"])
        for r in rules.values()
        if r["SourceSecurityGroupId"] == {"Fn::GetAtt": [fsx_sg, "GroupId"]}
    )
    assert from_training == [(988, 988), (1018, 1023)]
    assert from_self == [(988, 988), (1018, 1023)]
    assert all(r["IpProtocol"] == "tcp" and "CidrIp" not in r for r in rules.values())
    (fs,) = resources(storage, "AWS::FSx::FileSystem").values()
    assert set(rules) <= set(fs["DependsOn"])


def test_efs_is_encrypted_with_mount_targets_in_each_private_subnet(templates: dict[str, Template]) -> None:
    storage = templates["storage"]
    key_id = logical_id(storage, "AWS::KMS::Key", "DataKey")
    storage.has_resource_properties(
        "AWS::EFS::FileSystem", {"Encrypted": True, "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )
    targets = resources(storage, "AWS::EFS::MountTarget")
    assert len(targets) == 2
    assert len({repr(t["Properties"]["SubnetId"]) for t in targets.values()}) == 2


def test_efs_admits_nfs_from_the_training_sg_only(templates: dict[str, Template]) -> None:
    storage = templates["storage"]
    efs_sg = logical_id(storage, "AWS::EC2::SecurityGroup", "EfsSecurityGroup")
    group = resources(storage, "AWS::EC2::SecurityGroup")[efs_sg]["Properties"]
    assert "SecurityGroupIngress" not in group
    rules = [
        v["Properties"]
        for v in resources(storage, "AWS::EC2::SecurityGroupIngress").values()
        if v["Properties"]["GroupId"] == {"Fn::GetAtt": [efs_sg, "GroupId"]}
    ]
    assert len(rules) == 1
    assert (rules[0]["IpProtocol"], rules[0]["FromPort"], rules[0]["ToPort"]) == ("tcp", 2049, 2049)
    assert "DtrainNetwork:ExportsOutputFnGetAttTrainingSecurityGroup" in str(
        rules[0]["SourceSecurityGroupId"]
    )


def test_efs_policy_admits_sagemakers_anonymous_nfs_mount_through_mount_targets_only(
    templates: dict[str, Template],
) -> None:
    # SageMaker's FileSystemDataSource mount is a plain NFS client (no IAM): the policy must grant
    # ClientMount (ro) and ClientWrite (rw) to any client, through a mount target only.
    (fs,) = resources(templates["storage"], "AWS::EFS::FileSystem").values()
    assert fs["Properties"]["FileSystemPolicy"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SageMakerMountsThroughMountTargets",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "elasticfilesystem:ClientMount",
                    "elasticfilesystem:ClientRootAccess",
                    "elasticfilesystem:ClientWrite",
                ],
                "Resource": "*",
                "Condition": {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
            }
        ],
    }


def test_storage_outputs_for_the_cli(templates: dict[str, Template]) -> None:
    outputs = templates["storage"].find_outputs("*")
    assert {
        "DataBucketName",
        "ArtifactsBucketName",
        "CheckpointsBucketName",
        "OutputS3Uri",
        "CheckpointS3Uri",
        "KmsKeyArn",
        "FsxFileSystemId",
        "FsxMountName",
        "FsxDataPath",
        "EfsFileSystemId",
    } <= set(outputs)
    fs_id = logical_id(templates["storage"], "AWS::FSx::FileSystem", "LustreFileSystem")
    assert outputs["FsxMountName"]["Value"] == {"Fn::GetAtt": [fs_id, "LustreMountName"]}
