"""A job's EFS channels are mounted as SageMaker mounts them, an anonymous NFS client through a
mount target: the file-system policy (deployed from the template) decides, and a refused mount
fails the job as it starts (dtrain.emulator.authz.hook.job_file_systems_refused)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dtrain.emulator.authz.calls import job_file_system_checks

ACCT = "123456789012"
REGION = "us-east-1"


def _request(fs_id: str, mode: str) -> dict[str, Any]:
    source = {
        "FileSystemId": fs_id,
        "FileSystemType": "EFS",
        "FileSystemAccessMode": mode,
        "DirectoryPath": "/d",
    }
    return {"InputDataConfig": [{"ChannelName": "train", "DataSource": {"FileSystemDataSource": source}}]}


@pytest.fixture
def efs(monkeypatch: pytest.MonkeyPatch, fake_credentials: None) -> Iterator[tuple[Any, Any]]:
    from moto import mock_aws

    from dtrain.emulator.authz import hook
    from dtrain.emulator.authz.authorizer import Authorizer
    from dtrain.emulator.authz.moto_state import MotoState

    with mock_aws():
        import boto3

        client = boto3.client("efs", region_name=REGION)
        authz = Authorizer(MotoState(ACCT, REGION))
        try:
            with hook.installed(authz):
                yield client, hook
        finally:
            authz.close()


def _policy(actions: list[str]) -> str:
    # The storage stack's statement (stacks/storage_stack.efs_mount_statement) with these actions.
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": actions,
                    "Resource": "*",
                    "Condition": {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
                }
            ],
        }
    )


def test_the_storage_stacks_policy_admits_a_read_write_mount(efs: Any) -> None:
    client, hook = efs
    fs_id = client.create_file_system(CreationToken="a")["FileSystemId"]
    client.put_file_system_policy(
        FileSystemId=fs_id, Policy=_policy(["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"])
    )
    assert hook.job_file_systems_refused(_request(fs_id, "rw"), REGION) is None


def test_a_policy_without_client_write_refuses_a_read_write_channel(efs: Any) -> None:
    client, hook = efs
    fs_id = client.create_file_system(CreationToken="b")["FileSystemId"]
    client.put_file_system_policy(FileSystemId=fs_id, Policy=_policy(["elasticfilesystem:ClientMount"]))
    assert hook.job_file_systems_refused(_request(fs_id, "ro"), REGION) is None
    refused = hook.job_file_systems_refused(_request(fs_id, "rw"), REGION)
    assert refused is not None and "elasticfilesystem:ClientWrite" in refused and fs_id in refused


def test_a_policy_admitting_only_iam_principals_refuses_the_anonymous_client(efs: Any) -> None:
    # An NFS client without the mount helper's IAM option is anonymous: a grant to the
    # account (IAM delegation) does not reach it.
    client, hook = efs
    fs_id = client.create_file_system(CreationToken="c")["FileSystemId"]
    policy = json.loads(_policy(["elasticfilesystem:ClientMount"]))
    policy["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{ACCT}:root"}
    client.put_file_system_policy(FileSystemId=fs_id, Policy=json.dumps(policy))
    refused = hook.job_file_systems_refused(_request(fs_id, "ro"), REGION)
    assert refused is not None and "elasticfilesystem:ClientMount" in refused


def test_channels_other_than_efs_need_no_mount_check() -> None:
    s3 = {"InputDataConfig": [{"ChannelName": "t", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/k"}}}]}
    fsx = _request("fs-1", "ro")
    fsx["InputDataConfig"][0]["DataSource"]["FileSystemDataSource"]["FileSystemType"] = "FSxLustre"
    assert job_file_system_checks(s3, REGION, ACCT) == []
    assert job_file_system_checks(fsx, REGION, ACCT) == []
