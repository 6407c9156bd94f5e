"""Jobs run in the platform's VPC by default: config, the deployed settings, the request."""

from __future__ import annotations

from typing import Any

from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import parse_spec
from dtrain.requests.training_request import build_training_job_request


def _joined_literals(value: Any) -> str:
    """The literal parts of an Fn::Join (the platform JSON with its tokens left out)."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(p for p in value["Fn::Join"][1] if isinstance(p, str))
    return str(value)


def test_deployed_platform_settings_put_jobs_in_the_vpc(template_dicts: dict[str, dict[str, Any]]) -> None:
    (settings,) = [
        r["Properties"]["Environment"]["Variables"]["DTRAIN_PLATFORM"]
        for r in template_dicts["orchestration"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and "DTRAIN_PLATFORM" in r["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert '"jobs_in_vpc":true' in _joined_literals(settings)


def test_settings_without_the_key_give_every_job_the_platform_vpc() -> None:
    platform = PlatformSettings.from_dict(
        {
            "region": "eu-west-1",
            "role_arn": "arn:aws:iam::210987654321:role/dtrain-job",
            "output_s3_uri": "s3://dtrain-artifacts/jobs",
            "checkpoint_s3_uri": "s3://dtrain-checkpoints/jobs",
            "subnets": ["subnet-0a1b2c3d"],
            "security_group_ids": ["sg-0123abcd"],
        }
    )
    spec = parse_spec(
        {
            "job_name": "vpc-default",
            "framework": "pytorch",
            "estimator": {
                "entry_point": "train.py",
                "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/t:1",
                "instance_type": "ml.m5.xlarge",
                "instance_count": 2,
            },
            "inputs": {"train": "s3://dtrain-data/train"},
        }
    )
    request = build_training_job_request(spec, platform)
    assert request["VpcConfig"] == {"Subnets": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0123abcd"]}
