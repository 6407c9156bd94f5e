"""A platform that provides everything, for `dtrain validate` without --platform.

Validation then checks every rule of the spec itself; only what a real platform lacks
(no FSx deployed, say) needs `--platform FILE` to show. The account id is AWS's
documentation example, so a placeholder request can never reach a real account.
"""

from __future__ import annotations

from dtrain.jobspec.platform import PlatformSettings

_ACCOUNT = "123456789012"


def placeholder_platform(region: str = "us-east-1") -> PlatformSettings:
    registry = f"{_ACCOUNT}.dkr.ecr.{region}.amazonaws.com"
    return PlatformSettings(
        region=region,
        role_arn=f"arn:aws:iam::{_ACCOUNT}:role/dtrain-placeholder-job-role",
        output_s3_uri=f"s3://dtrain-placeholder-artifacts-{_ACCOUNT}/jobs",
        checkpoint_s3_uri=f"s3://dtrain-placeholder-checkpoints-{_ACCOUNT}/jobs",
        data_s3_uri=f"s3://dtrain-placeholder-data-{_ACCOUNT}",
        subnets=("subnet-00000000000000000",),
        security_group_ids=("sg-00000000000000000",),
        image_uris={
            "ddp": f"{registry}/dtrain-ddp:placeholder",
            "horovod": f"{registry}/dtrain-horovod:placeholder",
        },
        fsx_id="fs-00000000000000000",
        fsx_mount_name="placeholder",
        efs_id="fs-00000000000000001",
    )
