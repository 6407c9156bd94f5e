"""The estimator table (dtrain.jobspec.estimator_args): bounds from botocore's model, refusals, defaults.

The SDK-signature half of the surface test runs in the SDK parity subprocess
(tests/dtrain/test_sdk_parity.py::test_every_sdk_argument_is_accepted_or_refused).
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from dtrain.jobspec.errors import SpecError, SpecErrors
from dtrain.jobspec.estimator_args import ARGS, INT32_MAX, INT64_MAX, Int, accepted, markdown_table, refused
from dtrain.jobspec.schema import job_spec_schema
from dtrain.jobspec.spec import parse_spec
from dtrain.jobspec.spec_estimator import EstimatorSpec
from dtrain.remote.source_upload import pack_spec_code
from dtrain.requests.training_request import build_training_job_request
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
        instance_type="ml.p3.16xlarge",  # EBS only: a volume key is allowed (dtrain.jobspec.service_rules)
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


def test_the_reference_lists_every_argument_as_the_table_says() -> None:
    reference = Path(__file__).resolve().parents[2] / "docs" / "jobspec-reference.md"
    text = reference.read_text(encoding="utf-8")
    begin, end = "<!-- estimator-table:begin -->\n", "\n<!-- estimator-table:end -->"
    block = text[text.index(begin) + len(begin) : text.index(end)]
    assert block == markdown_table(), (
        f"{reference.name} is stale: paste `python -m dtrain.jobspec.estimator_args` there"
    )


def _tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return archive.getnames()


def test_dependencies_are_packed_under_their_own_names(tmp_path: Path) -> None:
    """SDK 2.220 tar_and_upload_dir: source_dir's contents at the root, each dependency as a dir."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("import helpers\n")
    (tmp_path / "lib" / "helpers").mkdir(parents=True)
    (tmp_path / "lib" / "helpers" / "__init__.py").write_text("X = 1\n")
    spec_path = tmp_path / "job.json"
    estimator = {"entry_point": "train.py", "source_dir": "src", "dependencies": ["lib/helpers"]}
    tarball = pack_spec_code(estimator, spec_path)
    assert tarball is not None
    assert _tar_names(tarball.data) == ["train.py", "helpers/__init__.py"]
    lone = pack_spec_code(
        {"entry_point": "src/train.py", "image_uri": "a/b", "dependencies": ["lib"]}, spec_path
    )
    assert lone is not None and _tar_names(lone.data) == ["train.py", "lib/helpers/__init__.py"]


@pytest.mark.parametrize(
    ("estimator", "rule"),
    [
        ({"dependencies": ["lib"]}, "S3 tarball"),  # minimal_spec's source_dir is in S3
        ({"dependencies": ["lib"], "source_dir": None, "image_uri": "ddp"}, "baked code"),
        ({"dependencies": ["s3://my-code/lib"], "source_dir": "src"}, "local directory"),
        ({"dependencies": ["a/lib", "b/lib"], "source_dir": "src"}, "same name"),
    ],
)
def test_dependencies_need_local_code(estimator: dict[str, Any], rule: str) -> None:
    errors = _errors(minimal_spec(**estimator))
    assert any(e.field.startswith("estimator.dependencies") and rule in e.rule for e in errors), errors


def test_local_mode_runs_the_code_with_its_dependencies(tmp_path: Path) -> None:
    from dtrain.commands.local_cmd import _code_with_dependencies

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("import helpers\n")
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("X = 1\n")
    spec = parse_spec(minimal_spec(source_dir="src", dependencies=["helpers"]), spec_dir=str(tmp_path))
    code = _code_with_dependencies(spec, tmp_path / "src", tmp_path / "job.json", tmp_path / "work")
    assert sorted(p.relative_to(code).as_posix() for p in code.rglob("*.py")) == [
        "helpers/__init__.py",
        "train.py",
    ]


def test_status_says_where_tensorboard_files_go() -> None:
    from dtrain.remote.job_summary import render_summary, training_job_summary

    described = {
        "TrainingJobName": "tb-job",
        "TrainingJobStatus": "InProgress",
        "TensorBoardOutputConfig": {"S3OutputPath": "s3://my-debug/tensorboard", "LocalPath": "/opt/ml/tb"},
    }
    job = training_job_summary("us-east-1", described)
    assert job["tensorboard"] == "s3://my-debug/tensorboard"
    assert "tensorboard" in render_summary({"jobs": [job]}) and "s3://my-debug/tensorboard" in render_summary(
        {"jobs": [job]}
    )
