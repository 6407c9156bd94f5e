"""What the platform fills in, and the request shapes the parity test cannot reach."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dtrain.jobspec.digests import request_spec_digest
from dtrain.jobspec.metrics import default_metric_definitions
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import load_spec, parse_spec, sweep_entries
from dtrain.requests.request_paths import s3_path_join
from dtrain.requests.training_request import (
    CODE_DIR_IN_IMAGE,
    build_training_job_request,
    local_code_upload,
)


def _hp(request: dict[str, Any], key: str) -> Any:
    return json.loads(request["HyperParameters"][key])


def test_platform_fills_role_output_image_checkpoint_tags_environment(
    make_spec: Any, platform: PlatformSettings
) -> None:
    spec = parse_spec(
        make_spec(role=None, output_path=None, image_uri="ddp", source_dir=None, entry_point="train_ddp.py")
    )
    request = build_training_job_request(spec, platform, job_name="dtrain-x-1")
    assert request["RoleArn"] == platform.role_arn
    assert request["OutputDataConfig"] == {"S3OutputPath": platform.output_s3_uri}
    assert request["AlgorithmSpecification"]["TrainingImage"] == platform.image_uris["ddp"]
    assert request["CheckpointConfig"] == {"S3Uri": "s3://dtrain-checkpoints-210987654321/ckpt/dtrain-x-1"}
    assert request["Tags"] == [
        {"Key": "team", "Value": "ml-platform"},
        {"Key": "cost-center", "Value": "1234"},
    ]
    assert request["Environment"] == {"DTRAIN_PLATFORM_VERSION": "1"}
    assert _hp(request, "sagemaker_region") == "eu-west-1"
    # Code baked into the packaged image.
    assert _hp(request, "sagemaker_submit_directory") == CODE_DIR_IN_IMAGE
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == default_metric_definitions()
    assert "VpcConfig" not in request  # jobs_in_vpc is false and no file system is used


def test_user_values_win_over_the_platform(make_spec: Any, platform: PlatformSettings) -> None:
    spec = parse_spec(
        make_spec(
            checkpoint_s3_uri="s3://mine/ckpt",
            tags={"team": "vision"},
            environment={"DTRAIN_PLATFORM_VERSION": "9"},
            subnets=["subnet-mine"],
            security_group_ids=["sg-mine"],
            metric_definitions=[],
        )
    )
    request = build_training_job_request(spec, platform, region="us-west-2")
    assert request["RoleArn"] == spec.estimator.role
    assert request["CheckpointConfig"] == {"S3Uri": "s3://mine/ckpt"}
    assert request["Tags"][0] == {"Key": "team", "Value": "vision"}
    assert {"Key": "team", "Value": "ml-platform"} not in request["Tags"]
    assert request["Environment"]["DTRAIN_PLATFORM_VERSION"] == "9"
    assert request["VpcConfig"] == {"Subnets": ["subnet-mine"], "SecurityGroupIds": ["sg-mine"]}
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == []
    assert _hp(request, "sagemaker_region") == "us-west-2"


def test_custom_image_gets_no_default_metrics(make_spec: Any, platform: PlatformSettings) -> None:
    request = build_training_job_request(parse_spec(make_spec()), platform)
    assert "MetricDefinitions" not in request["AlgorithmSpecification"]


def test_shortcuts_resolve_to_the_platforms_file_systems_with_vpc(
    make_spec: Any, platform: PlatformSettings
) -> None:
    spec = make_spec()
    spec["inputs"] = {
        "train": {"file_system": "fsx", "path": "/datasets/cifar10/"},
        "scratch": {"file_system": "efs", "path": "work", "file_system_access_mode": "rw"},
    }
    request = build_training_job_request(parse_spec(spec), platform)
    sources = {c["ChannelName"]: c["DataSource"]["FileSystemDataSource"] for c in request["InputDataConfig"]}
    assert sources["train"] == {
        "FileSystemId": "fs-0123456789abcdef0",
        "FileSystemType": "FSxLustre",
        "DirectoryPath": "/x7q3bbmv/datasets/cifar10",
        "FileSystemAccessMode": "ro",
    }
    assert sources["scratch"]["DirectoryPath"] == "/work"
    assert sources["scratch"]["FileSystemType"] == "EFS"
    assert sources["scratch"]["FileSystemAccessMode"] == "rw"
    assert request["VpcConfig"] == {
        "Subnets": list(platform.subnets),
        "SecurityGroupIds": list(platform.security_group_ids),
    }


def test_jobs_in_vpc_puts_every_job_in_the_platform_vpc(make_spec: Any, platform: PlatformSettings) -> None:
    in_vpc = PlatformSettings.from_dict({**platform.to_dict(), "jobs_in_vpc": True})
    request = build_training_job_request(parse_spec(make_spec()), in_vpc)
    assert request["VpcConfig"]["Subnets"] == list(platform.subnets)


def test_kms_keys_from_the_platform(make_spec: Any, platform: PlatformSettings) -> None:
    keyed = PlatformSettings.from_dict(
        {**platform.to_dict(), "volume_kms_key_id": "alias/vol", "output_kms_key_id": "alias/out"}
    )
    # An EBS-backed type: on types with local storage the volume key is left out (test_service_rules).
    request = build_training_job_request(parse_spec(make_spec(instance_type="ml.p3.16xlarge")), keyed)
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == "alias/vol"
    assert request["OutputDataConfig"]["KmsKeyId"] == "alias/out"


def test_job_names_spec_name_gets_the_platform_prefix(make_spec: Any, platform: PlatformSettings) -> None:
    spec = parse_spec(make_spec())
    assert build_training_job_request(spec, platform)["TrainingJobName"] == "dtrain-unit-job-1"
    assert build_training_job_request(spec, None, region="us-east-1")["TrainingJobName"] == "unit-job-1"
    assert (
        build_training_job_request(spec, platform, job_name="exact-name")["TrainingJobName"] == "exact-name"
    )


def test_derived_job_name_is_deterministic_per_spec_content(
    make_spec: Any, platform: PlatformSettings
) -> None:
    raw = make_spec()
    del raw["job_name"]
    first = build_training_job_request(parse_spec(raw), platform)["TrainingJobName"]
    # Same content in another key order: same name.
    reordered = {"estimator": dict(reversed(list(raw["estimator"].items()))), "framework": "pytorch"}
    assert build_training_job_request(parse_spec(reordered), platform)["TrainingJobName"] == first
    raw["estimator"]["instance_count"] = 3
    assert build_training_job_request(parse_spec(raw), platform)["TrainingJobName"] != first
    assert first.startswith("dtrain-my-trainer-")


def test_spec_digest_ignores_key_order(make_spec: Any) -> None:
    raw = make_spec()
    other = json.loads(json.dumps(raw, sort_keys=True))
    assert request_spec_digest(parse_spec(raw).raw) == request_spec_digest(parse_spec(other).raw)


def test_tensorflow_model_dir(make_spec: Any) -> None:
    raw = make_spec()
    raw["framework"] = "tensorflow"
    request = build_training_job_request(parse_spec(raw), None, region="us-east-1")
    assert _hp(request, "model_dir") == "s3://my-output/jobs/unit-job-1/model"
    raw["estimator"]["distribution"] = {"mpi": {"enabled": True}}
    request = build_training_job_request(parse_spec(raw), None, region="us-east-1")
    assert _hp(request, "model_dir") == "/opt/ml/model"


def test_local_source_dir_maps_to_the_sdk_upload_key(tmp_path: Path, platform: PlatformSettings) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("")  # load_spec checks that the entry point is there
    spec_file = tmp_path / "job.json"
    spec_file.write_text(
        json.dumps(
            {
                "framework": "pytorch",
                "job_name": "local-code",
                "estimator": {
                    "entry_point": "train.py",
                    "source_dir": "src",
                    "image_uri": "ddp",
                    "instance_type": "ml.g5.xlarge",
                    "instance_count": 1,
                },
            }
        )
    )
    spec = load_spec(spec_file)
    request = build_training_job_request(spec, platform)
    expected = "s3://dtrain-artifacts-210987654321/dtrain-local-code/source/sourcedir.tar.gz"
    assert _hp(request, "sagemaker_submit_directory") == expected
    upload = local_code_upload(spec, request)
    assert upload is not None
    assert upload.local_path == tmp_path / "src"
    assert upload.s3_uri == expected


def test_network_isolation_with_local_code_uploads_to_the_code_channel(
    make_spec: Any, platform: PlatformSettings
) -> None:
    spec = parse_spec(make_spec(source_dir="code", enable_network_isolation=True), spec_dir="/work/project")
    request = build_training_job_request(spec, platform)
    code = [c for c in request["InputDataConfig"] if c["ChannelName"] == "code"]
    assert _hp(request, "sagemaker_submit_directory") == "/opt/ml/input/data/code/sourcedir.tar.gz"
    upload = local_code_upload(spec, request)
    assert upload is not None and upload.local_path == Path("/work/project/code")
    assert code[0]["DataSource"]["S3DataSource"]["S3Uri"] == upload.s3_uri


def test_code_in_an_s3_tarball_needs_no_upload(make_spec: Any) -> None:
    spec = parse_spec(make_spec())
    request = build_training_job_request(spec, None, region="us-east-1")
    assert local_code_upload(spec, request) is None


def test_s3_path_join_matches_the_sdk() -> None:
    assert s3_path_join("s3://bucket/jobs/", "job", "model") == "s3://bucket/jobs/job/model"
    assert s3_path_join("s3://bucket", "/job/", "") == "s3://bucket/job"


def test_sweep_entries_merge_overrides(make_spec: Any) -> None:
    raw = make_spec(hyperparameters={"lr": 0.1, "epochs": 3}, image_uri="ddp")
    raw["sweep"] = {
        "overrides": [{"lr": 0.01}, {"epochs": 5}],
        "max_concurrency": 2,
        "objective": {"metric": "validation:accuracy"},
    }
    spec = parse_spec(raw)
    assert spec.sweep is not None and spec.sweep.goal == "maximize"
    entries = sweep_entries(spec)
    assert [e.estimator.hyperparameters for e in entries] == [
        {"lr": 0.01, "epochs": 3},
        {"lr": 0.1, "epochs": 5},
    ]
    assert all(e.sweep is None and "sweep" not in e.raw for e in entries)
