"""Every refusal rule: the spec is refused, and the error names the field (and the rule)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from dtrain.jobspec.errors import SpecError, SpecErrors, as_error_list
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import parse_spec
from dtrain.requests.training_request import build_training_job_request

Mutation = Callable[[dict[str, Any]], None]


def _est(**values: Any) -> Mutation:
    def apply(spec: dict[str, Any]) -> None:
        spec["estimator"].update(values)

    return apply


def _top(**values: Any) -> Mutation:
    def apply(spec: dict[str, Any]) -> None:
        spec.update(values)

    return apply


def _drop(key: str) -> Mutation:
    def apply(spec: dict[str, Any]) -> None:
        del spec["estimator"][key]

    return apply


# (id, mutation, field named by the error, words of the rule)
SPEC_RULES: list[tuple[str, Mutation, str, str]] = [
    ("unknown top-level key", _top(estimater={}), "estimater", "did you mean 'estimator'"),
    (
        "unknown estimator key",
        _est(instance_typ="ml.g5.xlarge"),
        "estimator.instance_typ",
        "did you mean 'instance_type'",
    ),
    ("framework misspelt", _top(framework="pytroch"), "framework", "did you mean 'pytorch'"),
    ("framework missing", _top(framework=None), "framework", "required"),
    ("job name pattern", _top(job_name="bad_name!"), "job_name", "[a-zA-Z0-9]"),
    ("job name too long", _top(job_name="a" * 64), "job_name", "63"),
    ("entry point missing", _drop("entry_point"), "estimator.entry_point", "required"),
    ("entry point absolute", _est(entry_point="/abs/train.py"), "estimator.entry_point", "relative"),
    ("instance type not ml.", _est(instance_type="p4d.24xlarge"), "estimator.instance_type", "ml."),
    ("instance count zero", _est(instance_count=0), "estimator.instance_count", ">= 1"),
    ("instance count bool", _est(instance_count=True), "estimator.instance_count", "integer"),
    ("image missing", _drop("image_uri"), "estimator.image_uri", "required"),
    ("image neither packaged nor URI", _est(image_uri="dpp"), "estimator.image_uri", "did you mean 'ddp'"),
    ("role not an ARN", _est(role="MyRole"), "estimator.role", "ARN"),
    ("output path not s3", _est(output_path="gs://bucket/x"), "estimator.output_path", "s3://"),
    ("s3 uri without bucket", _est(output_path="s3://"), "estimator.output_path", "s3://"),
    ("checkpoint uri not s3", _est(checkpoint_s3_uri="/local/ckpt"), "estimator.checkpoint_s3_uri", "s3://"),
    (
        "checkpoint local path relative",
        _est(checkpoint_local_path="ckpt"),
        "estimator.checkpoint_local_path",
        "absolute",
    ),
    ("s3 source not a tarball", _est(source_dir="s3://code/project/"), "estimator.source_dir", ".tar.gz"),
    ("spot without max_wait", _est(use_spot_instances=True, max_run=3600), "estimator.max_wait", "required"),
    (
        "spot max_wait below max_run",
        _est(use_spot_instances=True, max_run=3600, max_wait=1800),
        "estimator.max_wait",
        "spot jobs need max_wait >= max_run",
    ),
    (
        "spot max_wait below default max_run",
        _est(use_spot_instances=True, max_wait=3600),
        "estimator.max_wait",
        "86400",
    ),
    ("max_wait without spot", _est(max_wait=7200), "estimator.max_wait", "use_spot_instances"),
    ("max_run zero", _est(max_run=0), "estimator.max_run", ">= 1"),
    (
        "warm pool too long",
        _est(keep_alive_period_in_seconds=21601),
        "estimator.keep_alive_period_in_seconds",
        "21600",
    ),
    ("retries out of range", _est(max_retry_attempts=31), "estimator.max_retry_attempts", "30"),
    ("volume size zero", _est(volume_size=0), "estimator.volume_size", ">= 1"),
    ("input mode unknown", _est(input_mode="Stream"), "estimator.input_mode", "File"),
    (
        "two strategies",
        _est(distribution={"mpi": {"enabled": True}, "torch_distributed": {"enabled": True}}),
        "estimator.distribution",
        "exactly one",
    ),
    (
        "strategy disabled",
        _est(distribution={"mpi": {"enabled": False}}),
        "estimator.distribution.mpi.enabled",
        "true",
    ),
    ("no strategy", _est(distribution={}), "estimator.distribution", "names no strategy"),
    (
        "unknown strategy",
        _est(distribution={"horovod": {"enabled": True}}),
        "estimator.distribution.horovod",
        "unknown",
    ),
    (
        "parameter server on pytorch",
        _est(distribution={"parameter_server": {"enabled": True}}),
        "estimator.distribution.parameter_server",
        "pytorch",
    ),
    (
        "mwms on pytorch",
        _est(distribution={"multi_worker_mirrored_strategy": {"enabled": True}}),
        "estimator.distribution.multi_worker_mirrored_strategy",
        "pytorch",
    ),
    (
        "processes_per_host zero",
        _est(distribution={"mpi": {"enabled": True, "processes_per_host": 0}}),
        "estimator.distribution.mpi.processes_per_host",
        ">= 1",
    ),
    (
        "unknown mpi option",
        _est(distribution={"mpi": {"enabled": True, "process_per_host": 2}}),
        "estimator.distribution.mpi.process_per_host",
        "did you mean 'processes_per_host'",
    ),
    (
        "smdistributed model parallel",
        _est(
            instance_type="ml.p4d.24xlarge",
            distribution={"smdistributed": {"modelparallel": {"enabled": True}}},
        ),
        "estimator.distribution.smdistributed.modelparallel",
        "not supported",
    ),
    (
        "smdistributed on an unsupported instance",
        _est(distribution={"smdistributed": {"dataparallel": {"enabled": True}}}),
        "estimator.instance_type",
        "ml.p4d.24xlarge",
    ),
    (
        "reserved hyperparameter",
        _est(hyperparameters={"sagemaker_program": "x.py"}),
        "estimator.hyperparameters.sagemaker_program",
        "reserved",
    ),
    (
        "non-finite hyperparameter",
        _est(hyperparameters={"lr": float("nan")}),
        "estimator.hyperparameters.lr",
        "finite",
    ),
    (
        "hyperparameter too long",
        _est(hyperparameters={"blob": "x" * 2500}),
        "estimator.hyperparameters.blob",
        "2500",
    ),
    (
        "too many hyperparameters",
        _est(hyperparameters={f"h{i}": i for i in range(96)}),
        "estimator.hyperparameters",
        "too many",
    ),
    ("environment name", _est(environment={"1BAD": "x"}), "estimator.environment.1BAD", "[a-zA-Z_]"),
    ("environment value type", _est(environment={"OK": 1}), "estimator.environment.OK", "strings"),
    ("tag key reserved", _est(tags={"aws:owner": "me"}), "estimator.tags[0]", "aws:"),
    ("tag value characters", _est(tags=[{"Key": "k", "Value": "a;b"}]), "estimator.tags[0]", "tag values"),
    ("tag shape", _est(tags=[{"key": "k", "value": "v"}]), "estimator.tags[0]", "Key"),
    (
        "metric regex invalid",
        _est(metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9"}]),
        "estimator.metric_definitions[0].Regex",
        "regular expression",
    ),
    (
        "metric regex without group",
        _est(metric_definitions=[{"Name": "loss", "Regex": "loss=[0-9]+"}]),
        "estimator.metric_definitions[0].Regex",
        "capture group",
    ),
    ("subnets without security groups", _est(subnets=["subnet-1234abcd"]), "estimator.subnets", "both"),
    (
        "subnet id characters",
        _est(subnets=["subnet_1"], security_group_ids=["sg-1"]),
        "estimator.subnets",
        "ids",
    ),
    (
        "too many security groups",
        _est(subnets=["s-1"], security_group_ids=[f"sg-{i}" for i in range(6)]),
        "estimator.security_group_ids",
        "1 to 5",
    ),
    ("framework version format", _est(framework_version="two"), "estimator.framework_version", "version"),
    ("py version format", _est(py_version="3.10"), "estimator.py_version", "py3"),
    ("channel not s3", _top(inputs={"train": "/data/train"}), "inputs.train", "s3://"),
    ("channel name", _top(inputs={"train data": "s3://b/train"}), "inputs.train data", "channel names"),
    (
        "channel object unknown key",
        _top(inputs={"train": {"s3_data": "s3://b/t", "shuffle": True}}),
        "inputs.train.shuffle",
        "unknown key",
    ),
    (
        "channel distribution",
        _top(inputs={"train": {"s3_data": "s3://b/t", "distribution": "Sharded"}}),
        "inputs.train.distribution",
        "ShardedByS3Key",
    ),
    (
        "file system id",
        _top(
            inputs={"train": {"file_system_id": "fs-xyz", "file_system_type": "EFS", "directory_path": "/d"}}
        ),
        "inputs.train.file_system_id",
        "hex",
    ),
    (
        "file system type",
        _top(
            inputs={
                "train": {
                    "file_system_id": "fs-0123abcd",
                    "file_system_type": "Lustre",
                    "directory_path": "/d",
                }
            }
        ),
        "inputs.train.file_system_type",
        "FSxLustre",
    ),
    (
        "shortcut kind",
        _top(inputs={"train": {"file_system": "nfs", "path": "d"}}),
        "inputs.train.file_system",
        "fsx",
    ),
    (
        "shortcut escapes",
        _top(inputs={"train": {"file_system": "fsx", "path": "../etc"}}),
        "inputs.train.path",
        "..",
    ),
    (
        "file system channel in Pipe mode",
        lambda s: (
            s["estimator"].update(input_mode="Pipe"),
            s.update(inputs={"train": {"file_system": "efs", "path": "d"}}),
        ),
        "inputs.train",
        "File mode",
    ),
    ("sweep objective missing", _top(sweep={"overrides": [{"lr": 0.1}]}), "sweep.objective", "required"),
    (
        "sweep objective metric unknown",
        _top(sweep={"overrides": [{"lr": 0.1}], "objective": {"metric": "val_acc"}}),
        "sweep.objective.metric",
        "not a metric",
    ),
    (
        "sweep goal",
        _top(sweep={"overrides": [{"lr": 0.1}], "objective": {"metric": "m", "goal": "max"}}),
        "sweep.objective.goal",
        "maximize",
    ),
]


def _errors(spec: dict[str, Any]) -> list[SpecError]:
    with pytest.raises((SpecError, SpecErrors)) as info:
        parse_spec(spec)
    return as_error_list(info.value)


@pytest.mark.parametrize(
    ("mutation", "field", "rule"), [r[1:] for r in SPEC_RULES], ids=[r[0] for r in SPEC_RULES]
)
def test_refusal_names_field_and_rule(make_spec: Any, mutation: Mutation, field: str, rule: str) -> None:
    spec = make_spec()
    mutation(spec)
    errors = _errors(spec)
    matching = [e for e in errors if e.field == field]
    assert matching, f"no error for {field}; got {[str(e) for e in errors]}"
    assert any(rule in e.rule for e in matching), [e.rule for e in matching]
    # The one-line form is `field: value: rule`.
    assert str(matching[0]).startswith(f"{field}: ")


def test_tensorflow_strategies_and_mwms_version(make_spec: Any) -> None:
    spec = make_spec(
        distribution={"multi_worker_mirrored_strategy": {"enabled": True}}, framework_version="2.8"
    )
    spec["framework"] = "tensorflow"
    assert [e.field for e in _errors(spec)] == ["estimator.framework_version"]
    spec["estimator"]["framework_version"] = "2.9"
    parse_spec(spec)
    del spec["estimator"]["framework_version"]
    assert "required" in _errors(spec)[0].rule
    spec = make_spec(distribution={"torch_distributed": {"enabled": True}})
    spec["framework"] = "tensorflow"
    assert _errors(spec)[0].field == "estimator.distribution.torch_distributed"


def test_tensorflow_model_dir_hyperparameter_is_reserved(make_spec: Any) -> None:
    spec = make_spec(hyperparameters={"model_dir": "s3://x/y"})
    parse_spec(spec)  # pytorch: an ordinary hyperparameter
    spec["framework"] = "tensorflow"
    assert _errors(spec)[0].field == "estimator.hyperparameters.model_dir"


def test_all_errors_are_reported_in_one_pass(make_spec: Any) -> None:
    spec = make_spec(instance_count=0, max_run=-1, input_mode="x", role="r")
    spec["framework"] = "torch"
    spec["colour"] = "blue"
    fields = {e.field for e in _errors(spec)}
    assert fields >= {
        "framework",
        "colour",
        "estimator.instance_count",
        "estimator.max_run",
        "estimator.input_mode",
        "estimator.role",
    }


def test_spec_that_is_not_an_object() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec([1, 2])  # type: ignore[arg-type]
    assert info.value.field == "spec"


# --- rules that need the platform (checked when the request is built) ----------------------


def _build_errors(spec: dict[str, Any], platform: PlatformSettings | None, **kw: Any) -> list[SpecError]:
    parsed = parse_spec(spec)
    with pytest.raises((SpecError, SpecErrors)) as info:
        build_training_job_request(parsed, platform, **kw)
    return as_error_list(info.value)


def test_without_platform_role_output_and_region_are_required(make_spec: Any) -> None:
    spec = make_spec(role=None, output_path=None)
    fields = {e.field for e in _build_errors(spec, None)}
    assert fields == {"estimator.role", "estimator.output_path", "region"}


def test_packaged_image_without_platform_is_refused(make_spec: Any) -> None:
    errors = _build_errors(make_spec(image_uri="ddp"), None, region="us-east-1")
    assert [e.field for e in errors] == ["estimator.image_uri"]
    assert "platform" in errors[0].rule


def test_unknown_instance_type_is_refused_with_a_suggestion(make_spec: Any) -> None:
    errors = _build_errors(make_spec(instance_type="ml.g5.12xlarg"), None, region="us-east-1")
    assert errors[0].field == "estimator.instance_type"
    assert "did you mean 'ml.g5.12xlarge'" in errors[0].rule


def test_file_system_channel_needs_vpc(make_spec: Any, platform: PlatformSettings) -> None:
    spec = make_spec()
    spec["inputs"] = {
        "train": {"file_system_id": "fs-0123abcd", "file_system_type": "EFS", "directory_path": "/data"}
    }
    errors = _build_errors(spec, None, region="us-east-1")
    assert errors[0].field == "inputs.train" and "VPC" in errors[0].rule
    no_vpc = PlatformSettings.from_dict({**platform.to_dict(), "subnets": [], "security_group_ids": []})
    spec["inputs"] = {"train": {"file_system": "fsx", "path": "d"}}
    assert _build_errors(spec, no_vpc)[0].field == "inputs.train"


def test_shortcut_needs_the_platforms_file_system(make_spec: Any, platform: PlatformSettings) -> None:
    spec = make_spec()
    spec["inputs"] = {"train": {"file_system": "fsx", "path": "d"}}
    no_fsx = PlatformSettings.from_dict({**platform.to_dict(), "fsx_id": None, "fsx_mount_name": None})
    errors = _build_errors(spec, no_fsx)
    assert errors[0].field == "inputs.train.file_system" and "no FSx" in errors[0].rule
    without_platform = {e.field for e in _build_errors(spec, None, region="us-east-1")}
    assert "inputs.train.file_system" in without_platform


def test_explicit_invalid_job_name_is_refused(make_spec: Any) -> None:
    errors = _build_errors(make_spec(), None, region="us-east-1", job_name="has space")
    assert errors[0].field == "job_name"


def test_prefixed_job_name_too_long_is_refused(make_spec: Any, platform: PlatformSettings) -> None:
    spec = make_spec()
    spec["job_name"] = "a" * 60
    errors = _build_errors(spec, platform)
    assert errors[0].field == "job_name" and "prefix" in errors[0].rule


def test_code_channel_name_is_taken_with_network_isolation(make_spec: Any) -> None:
    spec = make_spec(enable_network_isolation=True)
    spec["inputs"] = {"code": "s3://my-bucket/code"}
    assert _build_errors(copy.deepcopy(spec), None, region="us-east-1")[0].field == "inputs.code"


def test_platform_settings_report_every_problem() -> None:
    with pytest.raises(SpecErrors) as info:
        PlatformSettings.from_dict({"region": "", "subnets": "subnet-1", "colour": 1})
    fields = {e.field for e in info.value.errors}
    assert {"platform.region", "platform.role_arn", "platform.subnets", "platform.colour"} <= fields


def test_sweep_entry_with_too_many_hyperparameters(make_spec: Any) -> None:
    spec = make_spec(hyperparameters={f"h{i}": i for i in range(90)}, image_uri="ddp")
    spec["sweep"] = {
        "overrides": [{"lr": 1}, {f"x{i}": i for i in range(10)}],
        "objective": {"metric": "epoch"},
    }
    errors = _errors(spec)
    assert [e.field for e in errors] == ["sweep.overrides[1]"]
