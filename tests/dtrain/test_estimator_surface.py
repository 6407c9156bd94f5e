"""The estimator table (dtrain.estimator_args): bounds from botocore's model, refusals, defaults.

The SDK-signature half of the surface test runs in the SDK parity subprocess
(tests/dtrain/test_sdk_parity.py::test_every_sdk_argument_is_accepted_or_refused).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import botocore.session
import pytest

from dtrain.errors import SpecError, SpecErrors
from dtrain.estimator_args import ARGS, INT32_MAX, INT64_MAX, Int, accepted, refused
from dtrain.request import build_training_job_request
from dtrain.schema import job_spec_schema
from dtrain.spec import parse_spec
from dtrain.spec_estimator import EstimatorSpec
from tests.dtrain.conftest import minimal_spec

LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def _errors(spec: dict[str, Any]) -> list[SpecError]:
    try:
        parse_spec(spec)
    except SpecErrors as exc:
        return list(exc.errors)
    except SpecError as exc:
        return [exc]
    return []


def _model_shape(path: str) -> Any:
    shape = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .operation_model("CreateTrainingJob")
        .input_shape
    )
    for part in path.split("."):
        shape = shape.members[part]
    return shape


@pytest.mark.parametrize("arg", [a for a in ARGS if isinstance(a.kind, Int)], ids=lambda a: a.name)
def test_integer_bounds_are_the_request_fields(arg: Any) -> None:
    kind: Int = arg.kind
    assert kind.maximum <= INT32_MAX
    if arg.request is None:
        return
    assert kind.model == arg.request, "an integer landing in a request field names it as its model"
    shape = _model_shape(arg.request)
    type_max = INT32_MAX if shape.type_name == "integer" else INT64_MAX
    assert kind.maximum == shape.metadata.get("max", type_max)
    assert kind.minimum >= shape.metadata.get("min", 0)


@pytest.mark.parametrize(
    ("field", "spec"),
    [
        ("estimator.instance_count", minimal_spec(instance_count=10**400)),
        ("estimator.max_run", minimal_spec(max_run=2**31)),
        ("estimator.volume_size", minimal_spec(volume_size=2**63)),
        (
            "estimator.distribution.mpi.processes_per_host",
            minimal_spec(distribution={"mpi": {"enabled": True, "processes_per_host": 10**40}}),
        ),
    ],
)
def test_integers_past_32_bits_are_refused_on_one_line(field: str, spec: dict[str, Any]) -> None:
    errors = _errors(spec)
    assert [e.field for e in errors] == [field]
    assert "\n" not in str(errors[0]) and len(str(errors[0])) < 200


def test_every_accepted_argument_is_an_estimator_spec_field() -> None:
    fields = {f.name for f in dataclasses.fields(EstimatorSpec)}
    assert fields == {a.name for a in ARGS if a.refused is None}


@pytest.mark.parametrize("name", refused("pytorch"))
def test_refused_arguments_say_why(name: str) -> None:
    errors = _errors(minimal_spec(**{name: {"x": 1}}))
    assert [e.field for e in errors] == [f"estimator.{name}"]
    assert errors[0].rule.startswith("refused: ") and len(errors[0].rule) > 40


def test_schema_lists_every_argument_with_its_status() -> None:
    props = job_spec_schema()["properties"]["estimator"]["properties"]
    assert set(props) == {a.name for a in ARGS}
    for name in refused("pytorch"):
        assert props[name]["description"].startswith("refused: ")


def test_model_dir_is_tensorflow_only() -> None:
    errors = _errors(minimal_spec(model_dir="s3://b/m"))
    assert [e.field for e in errors] == ["estimator.model_dir"]
    assert "model_dir" in accepted("tensorflow") and "model_dir" not in accepted("pytorch")


def test_spec_kms_keys_win_over_the_platform_defaults(platform: Any) -> None:
    platform = dataclasses.replace(
        platform, volume_kms_key_id="alias/platform-volume", output_kms_key_id="alias/platform-output"
    )
    spec = minimal_spec(
        instance_type="ml.p3.16xlarge",  # EBS only: a volume key is allowed (dtrain.service_rules)
        volume_kms_key="alias/own-volume",
        output_kms_key="alias/own-output",
    )
    request = build_training_job_request(parse_spec(spec), platform)
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == "alias/own-volume"
    assert request["OutputDataConfig"]["KmsKeyId"] == "alias/own-output"


def test_model_channel_name_clash_is_refused() -> None:
    spec = minimal_spec(model_uri="s3://my-models/model.tar.gz")
    spec["inputs"] = {"model": "s3://my-data/x"}
    with pytest.raises(SpecError, match=r"inputs\.model"):
        build_training_job_request(parse_spec(spec), None, region="us-east-1")


@pytest.mark.parametrize(
    ("estimator", "field"),
    [
        (
            {"training_repository_credentials_provider_arn": LAMBDA_ARN},
            "estimator.training_repository_credentials_provider_arn",
        ),
        (
            {"disable_profiler": True, "profiler_config": {"system_monitor_interval_millis": 500}},
            "estimator.profiler_config.disable_profiler",
        ),
        (
            {"profiler_config": {"system_monitor_interval_millis": 7}},
            "estimator.profiler_config.system_monitor_interval_millis",
        ),
        ({"code_location": "s3://my-code/x"}, "estimator.code_location"),
        ({"debugger_hook_config": True}, "estimator.debugger_hook_config"),
        ({"tensorboard_output_config": {}}, "estimator.tensorboard_output_config.s3_output_path"),
    ],
)
def test_cross_field_and_config_rules(estimator: dict[str, Any], field: str) -> None:
    assert field in [e.field for e in _errors(minimal_spec(**estimator))]
