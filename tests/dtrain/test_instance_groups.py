"""Heterogeneous clusters (estimator.instance_groups): the rules SDK 2.220 applies, in the spec.

The request itself is compared with the SDK's in tests/dtrain/test_sdk_parity.py
(instance_groups_* configurations).
"""

from __future__ import annotations

from typing import Any

import pytest

from dtrain.jobspec.errors import SpecError, SpecErrors
from dtrain.jobspec.spec import parse_spec
from dtrain.requests.training_request import build_training_job_request
from tests.dtrain.conftest import minimal_spec

GROUPS = [
    {"instance_group_name": "data", "instance_type": "ml.c5.18xlarge", "instance_count": 2},
    {"instance_group_name": "gpus", "instance_type": "ml.p3.16xlarge", "instance_count": 4},
]


def _grouped(**estimator: Any) -> dict[str, Any]:
    return minimal_spec(
        **{"instance_type": None, "instance_count": None, "instance_groups": GROUPS, **estimator}
    )


def _fields(spec: dict[str, Any]) -> list[str]:
    try:
        build_training_job_request(parse_spec(spec), None, region="us-east-1")
    except SpecErrors as exc:
        return [e.field for e in exc.errors]
    except SpecError as exc:
        return [exc.field]
    return []


def test_groups_replace_instance_type_and_count_in_the_request() -> None:
    spec = parse_spec(_grouped(distribution={"mpi": {"enabled": True}, "instance_groups": ["gpus"]}))
    # What cost estimates and local mode read: the SDK's image-lookup type, all hosts.
    assert (spec.estimator.instance_type, spec.estimator.instance_count) == ("ml.p3.16xlarge", 6)
    request = build_training_job_request(spec, None, region="us-east-1")
    resource = request["ResourceConfig"]
    assert "InstanceType" not in resource and "InstanceCount" not in resource
    assert [g["InstanceGroupName"] for g in resource["InstanceGroups"]] == ["data", "gpus"]
    assert request["HyperParameters"]["sagemaker_distribution_instance_groups"] == '["gpus"]'


def test_one_group_trains_without_being_named() -> None:
    one = [{"instance_group_name": "train", "instance_type": "ml.p4d.24xlarge", "instance_count": 2}]
    spec = minimal_spec(
        instance_type=None,
        instance_count=None,
        instance_groups=one,
        distribution={"smdistributed": {"dataparallel": {"enabled": True}}},
    )
    request = build_training_job_request(parse_spec(spec), None, region="us-east-1")
    assert request["HyperParameters"]["sagemaker_distribution_instance_groups"] == '["train"]'


def test_channels_name_their_groups() -> None:
    spec = _grouped()
    spec["inputs"] = {"train": {"s3_data": "s3://my-data/train", "instance_groups": ["data"]}}
    request = build_training_job_request(parse_spec(spec), None, region="us-east-1")
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["InstanceGroupNames"] == ["data"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (minimal_spec(instance_groups=GROUPS), "estimator.instance_type"),
        (minimal_spec(instance_type=None), "estimator.instance_type"),
        (
            minimal_spec(distribution={"mpi": {"enabled": True}, "instance_groups": ["gpus"]}),
            "estimator.distribution.instance_groups",
        ),
        (_grouped(distribution={"mpi": {"enabled": True}}), "estimator.distribution.instance_groups"),
        (
            _grouped(distribution={"mpi": {"enabled": True}, "instance_groups": ["cpus"]}),
            "estimator.distribution.instance_groups",
        ),
        (
            {
                **_grouped(distribution={"parameter_server": {"enabled": True}, "instance_groups": ["gpus"]}),
                "framework": "tensorflow",
            },
            "estimator.distribution.parameter_server",
        ),
        (
            _grouped(instance_groups=[GROUPS[0], {**GROUPS[1], "instance_group_name": "data"}]),
            "estimator.instance_groups",
        ),
        (
            {**_grouped(), "inputs": {"train": {"s3_data": "s3://my-data/t", "instance_groups": ["gpu"]}}},
            "inputs.train.instance_groups",
        ),
    ],
    ids=[
        "type-with-groups",
        "no-type-no-groups",
        "named-without-groups",
        "two-groups-none-named",
        "unknown-group",
        "parameter-server",
        "duplicate-names",
        "channel-unknown-group",
    ],
)
def test_sdk_instance_group_rules(spec: dict[str, Any], field: str) -> None:
    assert field in _fields(spec)


def test_a_volume_key_is_refused_when_a_group_has_local_storage() -> None:
    # ml.g5 has local NVMe storage: SageMaker refuses a VolumeKmsKeyId (dtrain.jobspec.service_rules).
    groups = [
        GROUPS[1],
        {"instance_group_name": "g5", "instance_type": "ml.g5.12xlarge", "instance_count": 1},
    ]
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    spec = _grouped(instance_groups=groups, volume_kms_key=key)
    assert _fields(spec) == ["estimator.volume_kms_key"]


def test_the_json_schema_takes_a_type_and_count_or_groups() -> None:
    import jsonschema

    from dtrain.jobspec.schema import job_spec_schema

    validator = jsonschema.Draft202012Validator(job_spec_schema())
    assert validator.is_valid(_grouped()) and validator.is_valid(minimal_spec())
    assert not validator.is_valid(minimal_spec(instance_groups=GROUPS))
    assert not validator.is_valid(minimal_spec(instance_type=None))
