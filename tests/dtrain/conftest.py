"""Shared fixtures of the dtrain core tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from dtrain.jobspec.platform import PlatformSettings

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.json"))

ROLE = "arn:aws:iam::123456789012:role/train-role"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-trainer:1.0"

PLATFORM_DICT: dict[str, Any] = {
    "region": "eu-west-1",
    "role_arn": "arn:aws:iam::210987654321:role/dtrain-job",
    "output_s3_uri": "s3://dtrain-artifacts-210987654321/jobs",
    "checkpoint_s3_uri": "s3://dtrain-checkpoints-210987654321/ckpt",
    "subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
    "security_group_ids": ["sg-0123abcd"],
    "jobs_in_vpc": False,
    "image_uris": {
        "ddp": "210987654321.dkr.ecr.eu-west-1.amazonaws.com/dtrain-ddp:abc",
        "horovod": "210987654321.dkr.ecr.eu-west-1.amazonaws.com/dtrain-horovod:abc",
    },
    "fsx_id": "fs-0123456789abcdef0",
    "fsx_mount_name": "x7q3bbmv",
    "efs_id": "fs-0fedcba9",
    "tags": {"team": "ml-platform", "cost-center": "1234"},
    "environment": {"DTRAIN_PLATFORM_VERSION": "1"},
    "job_name_prefix": "dtrain",
    "volume_kms_key_id": None,
    "output_kms_key_id": None,
    "data_s3_uri": "s3://dtrain-data-210987654321",
}


def minimal_spec(**estimator: Any) -> dict[str, Any]:
    """A spec that renders without a platform; keyword arguments override estimator keys."""
    est: dict[str, Any] = {
        "entry_point": "train.py",
        "source_dir": "s3://my-code/project/sourcedir.tar.gz",
        "image_uri": IMAGE,
        "role": ROLE,
        "output_path": "s3://my-output/jobs",
        "instance_type": "ml.g5.2xlarge",
        "instance_count": 2,
    }
    est.update(estimator)
    return {
        "framework": "pytorch",
        "job_name": "unit-job-1",
        "estimator": {k: v for k, v in est.items() if v is not None},
    }


@pytest.fixture
def platform() -> PlatformSettings:
    return PlatformSettings.from_dict(copy.deepcopy(PLATFORM_DICT))


@pytest.fixture
def spec_dict() -> dict[str, Any]:
    return minimal_spec()


@pytest.fixture
def make_spec() -> Any:
    return minimal_spec


@pytest.fixture(scope="session")
def example_paths() -> list[Path]:
    assert EXAMPLES, "examples/*.json missing"
    return EXAMPLES
