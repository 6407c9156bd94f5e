"""The PlatformSettings `dtrain local` builds its request with: a stand-in deployed platform.

The request then goes through the same `build_training_job_request` as the Submit Lambda's;
the ARNs, buckets and ids below only need to be well formed (botocore's model checks them).
Local mode maps them back: the packaged image URIs to training_code/<image>, the file
system ids to local directories, the output and checkpoint locations to the job dir.
"""

from __future__ import annotations

from dtrain.jobspec.platform import PlatformSettings
from dtrain.local.config import LOCAL_IMAGE_URIS

LOCAL_REGION = "us-east-1"
LOCAL_FSX_ID = "fs-0000000000000000a"
LOCAL_EFS_ID = "fs-0000000000000000b"
LOCAL_FSX_MOUNT = "fsx"


def local_platform_settings(region: str = LOCAL_REGION) -> PlatformSettings:
    return PlatformSettings(
        region=region,
        role_arn="arn:aws:iam::000000000000:role/dtrain-local-training",
        output_s3_uri="s3://dtrain-local-artifacts/jobs",
        checkpoint_s3_uri="s3://dtrain-local-checkpoints/jobs",
        # `{"s3": "data", ...}` channels resolve here; local mode reads them from --data paths.
        data_s3_uri="s3://dtrain-local-data",
        # File-system channels need a VPC in the request; local mode ignores it.
        subnets=("subnet-00000000000000000",),
        security_group_ids=("sg-00000000000000000",),
        image_uris=dict(LOCAL_IMAGE_URIS),
        fsx_id=LOCAL_FSX_ID,
        fsx_mount_name=LOCAL_FSX_MOUNT,
        efs_id=LOCAL_EFS_ID,
    )
