"""The strict model check: catches what botocore's validator lets through; our limits match the model."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from typing import Any

import pytest

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec import validate_request
from dtrain.jobspec.errors import RequestValidationError
from dtrain.jobspec.spec import parse_spec
from dtrain.jobspec.validate_request import (
    request_problems,
    shapes,
    translate_java_pattern,
    untranslatable_patterns,
    validate_create_training_job,
)
from dtrain.requests.training_request import build_training_job_request


@pytest.fixture
def good_request(make_spec: Any) -> dict[str, Any]:
    spec = make_spec(use_spot_instances=True, max_run=3600, max_wait=3600, tags={"team": "vision"})
    spec["inputs"] = {"train": "s3://my-data/train"}
    return build_training_job_request(parse_spec(spec), None, region="us-east-1")


def _fields(request: dict[str, Any]) -> set[str]:
    return {e.field for e in request_problems(request)}


def test_built_request_passes(good_request: dict[str, Any]) -> None:
    validate_create_training_job(good_request)
    assert request_problems(good_request) == []


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("ResourceConfig", "InstanceType"), "ml.g5.huge", "request.ResourceConfig.InstanceType"),  # enum
        (
            ("AlgorithmSpecification", "TrainingInputMode"),
            "Stream",
            "request.AlgorithmSpecification.TrainingInputMode",
        ),
        (("TrainingJobName",), "bad_name", "request.TrainingJobName"),  # pattern
        (("TrainingJobName",), "a" * 64, "request.TrainingJobName"),  # max length
        (("RoleArn",), "arn:aws:iam::1:role/x", "request.RoleArn"),  # pattern
        (
            ("StoppingCondition", "MaxRuntimeInSeconds"),
            0,
            "request.StoppingCondition.MaxRuntimeInSeconds",
        ),  # min
        (
            ("ResourceConfig", "KeepAlivePeriodInSeconds"),
            99999,
            "request.ResourceConfig.KeepAlivePeriodInSeconds",
        ),
        (("ResourceConfig", "InstanceCount"), "2", "request.ResourceConfig.InstanceCount"),  # type
        (("EnableManagedSpotTraining",), "yes", "request.EnableManagedSpotTraining"),
        (("Tags",), [{"Key": "a;b", "Value": "v"}], "request.Tags[0].Key"),  # \p{..} pattern, translated
        (("Tags",), [{"Key": "k"}], "request.Tags[0].Value"),  # required member
        (("Unknown",), 1, "request.Unknown"),  # not a member
        (("OutputDataConfig", "S3OutputPath"), "gs://x/y", "request.OutputDataConfig.S3OutputPath"),
        (("Environment",), {"1X": "v"}, "request.Environment{key '1X'}"),
    ],
)
def test_model_violations_are_caught(
    good_request: dict[str, Any], path: tuple[str, ...], value: Any, field: str
) -> None:
    request = copy.deepcopy(good_request)
    target = request
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert field in _fields(request)
    with pytest.raises(RequestValidationError):
        validate_create_training_job(request)


def test_list_and_map_sizes(good_request: dict[str, Any]) -> None:
    request = copy.deepcopy(good_request)
    request["HyperParameters"] = {f"k{i}": "1" for i in range(101)}
    request["InputDataConfig"] = []
    assert {"request.HyperParameters", "request.InputDataConfig"} <= _fields(request)


def test_java_unicode_classes_translate_to_supersets() -> None:
    translated = translate_java_pattern(r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)")
    assert translated is not None
    pattern = re.compile(translated)
    for ok in ["team", "Équipe 7", "日本語", "a:b/c=d+e-f@g_h.i"]:
        assert pattern.fullmatch(ok), ok
    assert pattern.fullmatch("a;b") is None
    assert translate_java_pattern(r"[\p{Alnum}\-]+") == r"[a-zA-Z0-9\-]+"
    assert translate_java_pattern(r"\p{Unknown}") is None
    assert translate_java_pattern(r"a\Qb\E") is None


def test_every_pattern_of_the_operation_is_checked(good_request: dict[str, Any]) -> None:
    validate_create_training_job(good_request)
    # Every pattern reachable from CreateTrainingJob compiles after translation: nothing is skipped.
    seen: set[str] = set()
    stack = ["CreateTrainingJobRequest"]
    patterns: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes()[name]
        if "pattern" in shape:
            patterns.add(shape["pattern"])
        for member in shape.get("members", {}).values():
            stack.append(member["shape"])
        for key in ("member", "key", "value"):
            if key in shape:
                stack.append(shape[key]["shape"])
    assert patterns
    untranslatable = [p for p in patterns if translate_java_pattern(p) is None]
    assert untranslatable == []
    assert not untranslatable_patterns()


def _shape(name: str) -> dict[str, Any]:
    shape: dict[str, Any] = shapes()[name]
    return shape


@pytest.mark.parametrize(
    ("ours", "shape", "attr"),
    [
        (rules.MAX_HYPERPARAMETERS, "HyperParameters", "max"),
        (rules.MAX_HYPERPARAMETER_KEY, "HyperParameterKey", "max"),
        (rules.MAX_HYPERPARAMETER_VALUE, "HyperParameterValue", "max"),
        (rules.MAX_ENVIRONMENT, "TrainingEnvironmentMap", "max"),
        (rules.MAX_ENVIRONMENT_KEY, "TrainingEnvironmentKey", "max"),
        (rules.MAX_ENVIRONMENT_VALUE, "TrainingEnvironmentValue", "max"),
        (rules.MAX_TAGS, "TagList", "max"),
        (rules.MAX_TAG_KEY, "TagKey", "max"),
        (rules.MAX_TAG_VALUE, "TagValue", "max"),
        (rules.MAX_METRIC_DEFINITIONS, "MetricDefinitionList", "max"),
        (rules.MAX_METRIC_NAME, "MetricName", "max"),
        (rules.MAX_METRIC_REGEX, "MetricRegex", "max"),
        (rules.MAX_CHANNELS, "InputDataConfig", "max"),
        (rules.MAX_CHANNEL_NAME, "ChannelName", "max"),
        (rules.MAX_S3_URI, "S3Uri", "max"),
        (rules.MAX_SUBNETS, "Subnets", "max"),
        (rules.MAX_SECURITY_GROUPS, "VpcSecurityGroupIds", "max"),
        (rules.MAX_VPC_ID, "SubnetId", "max"),
        (rules.MAX_KEEP_ALIVE_SECONDS, "KeepAlivePeriodInSeconds", "max"),
        (rules.MIN_RETRY_ATTEMPTS, "MaximumRetryAttempts", "min"),
        (rules.MAX_RETRY_ATTEMPTS, "MaximumRetryAttempts", "max"),
        (rules.MAX_TRAINING_IMAGE, "AlgorithmImage", "max"),
        (rules.MAX_DIRECTORY_PATH, "DirectoryPath", "max"),
        (rules.MAX_CONTENT_TYPE, "ContentType", "max"),
        (rules.MAX_ATTRIBUTE_NAMES, "AttributeNames", "max"),
        (rules.MIN_ROLE_ARN, "RoleArn", "min"),
        (rules.MAX_ROLE_ARN, "RoleArn", "max"),
        (rules.MIN_FILE_SYSTEM_ID, "FileSystemId", "min"),
        (rules.MAX_FILE_SYSTEM_ID, "FileSystemId", "max"),
        (rules.MAX_JOB_NAME_LENGTH, "TrainingJobName", "max"),
    ],
)
def test_spec_limits_equal_the_service_model(ours: int, shape: str, attr: str) -> None:
    assert ours == _shape(shape)[attr]


@pytest.mark.parametrize(
    ("ours", "shape"),
    [
        (rules.TRAINING_INPUT_MODES, "TrainingInputMode"),
        (rules.S3_DISTRIBUTIONS, "S3DataDistribution"),
        (rules.COMPRESSION_TYPES, "CompressionType"),
        (rules.RECORD_WRAPPERS, "RecordWrapper"),
        (rules.FILE_SYSTEM_TYPES, "FileSystemType"),
        (rules.FILE_SYSTEM_ACCESS_MODES, "FileSystemAccessMode"),
    ],
)
def test_spec_enums_equal_the_service_model(ours: tuple[str, ...], shape: str) -> None:
    assert set(ours) == set(_shape(shape)["enum"])


def test_s3_data_types_are_a_subset_of_the_model() -> None:
    # "Converse" exists in the model but is not a TrainingInput s3_data_type of SDK v2.
    assert set(rules.S3_DATA_TYPES) <= set(_shape("S3DataType")["enum"])


def test_offline_commands_read_botocores_model_without_importing_botocore() -> None:
    """`dtrain local` / validate / estimate check instance types against the model: reading its
    file costs ~0.1 s, importing botocore's loader for it ~0.3 s more on every start. The model
    read is botocore's own (its loader's result, compared whole)."""
    probe = (
        "import sys; from dtrain.jobspec.validate_request import _model; model = _model(); "
        "print('botocore' in sys.modules, len(model['shapes']))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split()[0] == "False", done.stdout
    import botocore.loaders  # lazy: the reference the test compares with

    reference = botocore.loaders.create_loader().load_service_model("sagemaker", "service-2")
    assert done.stdout.split()[1] == str(len(reference["shapes"]))
    assert validate_request._model_file() is not None
    validate_request._model.cache_clear()
    assert validate_request._model() == reference
