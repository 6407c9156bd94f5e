"""SageMaker's service-side rules (dtrain.jobspec.service_rules) on requests the builder makes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from dtrain.jobspec.errors import SpecError, SpecErrors, as_error_list
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.service_rules import (
    EFA_INSTANCE_TYPES,
    LOCAL_STORAGE_FAMILIES,
    MAX_RUNTIME_SECONDS,
    SERVICE_NOTES,
    SERVICE_RULES,
    has_local_storage,
    instance_family,
    request_notes,
    service_rule_problems,
)
from dtrain.jobspec.spec import load_spec, parse_spec
from dtrain.jobspec.validate_request import enum_values, validate_create_training_job
from dtrain.requests.training_request import build_training_job_request

from .conftest import EXAMPLES, minimal_spec

KEY = "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def keyed(platform: PlatformSettings) -> PlatformSettings:
    return PlatformSettings.from_dict({**platform.to_dict(), "volume_kms_key_id": KEY})


def _fields(exc: BaseException) -> set[str]:
    assert isinstance(exc, SpecError | SpecErrors)
    return {e.field for e in as_error_list(exc)}


def _refused(spec: dict[str, Any], platform: PlatformSettings | None = None) -> set[str]:
    with pytest.raises((SpecError, SpecErrors)) as info:
        build_training_job_request(parse_spec(spec), platform, region="us-east-1")
    return _fields(info.value)


def _request_from(spec: dict[str, Any], platform: PlatformSettings | None = None) -> dict[str, Any]:
    return build_training_job_request(parse_spec(spec), platform, region="us-east-1")


def test_every_rule_and_note_names_its_aws_document() -> None:
    assert len({r.name for r in SERVICE_RULES}) == len(SERVICE_RULES) >= 8
    for item in (*SERVICE_RULES, *SERVICE_NOTES):
        assert item.source.startswith("https://docs.aws.amazon.com/"), item.name


def test_instance_tables_hold_only_real_training_types() -> None:
    types = set(enum_values("TrainingInstanceType"))
    assert {instance_family(t) for t in types} >= LOCAL_STORAGE_FAMILIES
    assert types >= EFA_INSTANCE_TYPES
    # The families the API reference names as NVMe-backed; an EBS-only pair for contrast.
    assert all(has_local_storage(t) for t in ("ml.p4d.24xlarge", "ml.g4dn.xlarge", "ml.g5.12xlarge"))
    assert not any(has_local_storage(t) for t in ("ml.c5.xlarge", "ml.p3.16xlarge", "ml.m5.large"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_with_platform_settings_have_no_volume_key_on_local_storage(
    example: Path, keyed: PlatformSettings
) -> None:
    request = build_training_job_request(load_spec(example), keyed)
    instance_type = request["ResourceConfig"]["InstanceType"]
    assert instance_family(instance_type) in {"g5", "p4d"}
    assert "VolumeKmsKeyId" not in request["ResourceConfig"]
    assert service_rule_problems(request) == []
    notes = request_notes(request, platform_volume_key=KEY)
    assert any("VolumeKmsKeyId" in n and "left out" in n for n in notes)


def test_the_platform_volume_key_stays_on_ebs_backed_types(keyed: PlatformSettings) -> None:
    request = build_training_job_request(parse_spec(minimal_spec(instance_type="ml.p3.16xlarge")), keyed)
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    assert request_notes(request, platform_volume_key=KEY) == []


def test_a_volume_key_of_the_spec_on_local_storage_is_refused(platform: PlatformSettings) -> None:
    request = build_training_job_request(load_spec(EXAMPLES[0]), platform)
    own = copy.deepcopy(request)
    own["ResourceConfig"]["VolumeKmsKeyId"] = KEY
    with pytest.raises(SpecError) as info:
        validate_create_training_job(own)
    assert info.value.field == "estimator.volume_kms_key"
    assert "local NVMe" in str(info.value) and "\n" not in str(info.value)


def test_warm_pool_with_spot_is_refused() -> None:
    spot = minimal_spec(
        use_spot_instances=True, max_run=3600, max_wait=7200, keep_alive_period_in_seconds=900
    )
    assert _refused(spot) == {"estimator.keep_alive_period_in_seconds"}
    # 0 asks for no warm pool: allowed with spot; a warm pool on demand is allowed too.
    no_pool = {**spot, "estimator": {**spot["estimator"], "keep_alive_period_in_seconds": 0}}
    _request_from(no_pool)
    _request_from(minimal_spec(keep_alive_period_in_seconds=900))


def test_warm_pool_with_a_heterogeneous_cluster_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 26, finding 12: it passed validate; SageMaker cannot keep a pool for instance groups."""
    import json

    from dtrain.cli import main

    groups = [
        {"instance_group_name": "data", "instance_type": "ml.c5.18xlarge", "instance_count": 1},
        {"instance_group_name": "gpus", "instance_type": "ml.p3.16xlarge", "instance_count": 2},
    ]
    spec = minimal_spec(
        instance_type=None, instance_count=None, instance_groups=groups, keep_alive_period_in_seconds=900
    )
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "estimator.keep_alive_period_in_seconds: 900: SageMaker managed warm pools cannot be used with "
        "heterogeneous cluster training (instance_groups); remove it or train on one instance_type"
    ]


def test_a_warm_pool_request_says_the_default_quota_keeps_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 26, finding 12: with the default warm-pool quota (0) the job trains and keeps no pool,
    without an error; validate and render say so on stderr."""
    import json

    from dtrain.cli import main

    path = tmp_path / "spec.json"
    path.write_text(json.dumps(minimal_spec(keep_alive_period_in_seconds=900)))
    for command in ("validate", "render"):
        assert main([command, str(path), "--region", "us-east-1"][: 2 if command == "validate" else 4]) == 0
        notes = [line for line in capsys.readouterr().err.splitlines() if "keep_alive" in line]
        assert notes == [
            "note: estimator.keep_alive_period_in_seconds: a warm pool is kept only within the account's "
            "warm-pool quota for ml.g5.2xlarge, 0 unless raised in Service Quotas ('ml.g5.2xlarge for "
            "training warm pool usage'); without it the job trains and no pool is kept "
            "(https://docs.aws.amazon.com/sagemaker/latest/dg/train-warm-pools-resource-limits.html)"
        ]


# Job specs only: examples/platform_app is a CDK app (its cdk.json is no job spec).
_SPECS = sorted(p for p in EXAMPLES[0].parent.glob("**/*.json") if "platform_app" not in p.parts)


@pytest.mark.parametrize("example", _SPECS, ids=lambda p: p.stem)
def test_no_example_asks_for_a_warm_pool_the_default_quota_does_not_keep(example: Path) -> None:
    assert "keep_alive_period_in_seconds" not in load_spec(example).raw.get("estimator", {})


@pytest.mark.parametrize("mode", ["Pipe", "FastFile"])
def test_file_system_channels_refuse_streaming_modes(mode: str, platform: PlatformSettings) -> None:
    spec = minimal_spec(input_mode=mode)
    spec["inputs"] = {"train": {"file_system": "fsx", "path": "datasets/cifar10"}}
    assert _refused(spec, platform) == {"inputs.train"}  # the spec check refuses it first
    file_mode = {**spec, "estimator": {**spec["estimator"], "input_mode": "File"}}
    request = _request_from(file_mode, platform)
    request["AlgorithmSpecification"]["TrainingInputMode"] = mode  # the service rule, as backstop
    assert {e.field for e in service_rule_problems(request)} == {"estimator.input_mode"}
    request["InputDataConfig"][0]["InputMode"] = mode
    assert {e.field for e in service_rule_problems(request)} == {"inputs.train.input_mode"}
    spec["inputs"]["train"] = "s3://my-data/train"  # S3 streams in either mode
    build_training_job_request(parse_spec(spec), platform)


def test_max_run_past_28_days_is_refused() -> None:
    assert _refused(minimal_spec(max_run=MAX_RUNTIME_SECONDS + 1)) == {"estimator.max_run"}
    _request_from(minimal_spec(max_run=MAX_RUNTIME_SECONDS))


def _request(platform: PlatformSettings | None = None, **estimator: Any) -> dict[str, Any]:
    return _request_from(minimal_spec(**estimator), platform)


def test_stopping_rules_on_the_request() -> None:
    request = _request(max_run=3600)
    request["StoppingCondition"]["MaxWaitTimeInSeconds"] = 7200
    assert {e.field for e in service_rule_problems(request)} == {"estimator.max_wait"}
    request["EnableManagedSpotTraining"] = True
    assert service_rule_problems(request) == []
    request["StoppingCondition"]["MaxWaitTimeInSeconds"] = 60
    assert {e.field for e in service_rule_problems(request)} == {"estimator.max_wait"}
    del request["StoppingCondition"]["MaxWaitTimeInSeconds"]
    assert {e.field for e in service_rule_problems(request)} == {"estimator.max_wait"}


def test_file_system_channel_without_vpc_and_isolated_s3_code_are_refused(platform: PlatformSettings) -> None:
    spec = minimal_spec()
    spec["inputs"] = {"train": {"file_system": "efs", "path": "data"}}
    request = build_training_job_request(parse_spec(spec), platform)
    del request["VpcConfig"]
    assert {e.field for e in service_rule_problems(request)} == {"estimator.subnets"}
    isolated = _request(enable_network_isolation=True)
    assert service_rule_problems(isolated) == []  # the code arrives in the "code" channel
    isolated["HyperParameters"]["sagemaker_submit_directory"] = '"s3://my-code/src.tar.gz"'
    assert {e.field for e in service_rule_problems(isolated)} == {"estimator.source_dir"}


def test_efa_and_encryption_notes_for_the_spec_own_security_groups(platform: PlatformSettings) -> None:
    vpc = {"subnets": ["subnet-0a1b2c3d"], "security_group_ids": ["sg-0ffff000"]}
    request = _request(instance_type="ml.p4d.24xlarge", encrypt_inter_container_traffic=True, **vpc)
    notes = request_notes(request, platform_security_groups=platform.security_group_ids)
    assert len(notes) == 2 and all("sg-0ffff000" in n for n in notes)
    assert any("EFA" in n for n in notes) and any("UDP 500" in n for n in notes)
    # The platform's own group is built to allow both (stacks/network_stack.py): no note.
    ours = _request(
        instance_type="ml.p4d.24xlarge",
        encrypt_inter_container_traffic=True,
        subnets=list(platform.subnets),
        security_group_ids=list(platform.security_group_ids),
    )
    assert request_notes(ours, platform_security_groups=platform.security_group_ids) == []
