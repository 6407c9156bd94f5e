"""JSON Schema (draft 2020-12) of the job spec, for editors and CI.

Built from the same key lists and limits the parser uses, so the two cannot drift on
names; cross-field rules (spot needs max_wait >= max_run, one strategy, ...) are beyond a
schema and stay with `dtrain validate`.
"""

from __future__ import annotations

from typing import Any

from dtrain import spec_rules as rules
from dtrain.channels import FILE_SYSTEM_CHANNEL_KEYS, S3_CHANNEL_KEYS, S3_SHORTCUT_KEYS, SHORTCUT_KEYS
from dtrain.distribution import STRATEGIES
from dtrain.spec import FRAMEWORKS, GOALS, SWEEP_KEYS, TOP_LEVEL_KEYS
from dtrain.spec_estimator import ESTIMATOR_KEYS, PACKAGED_IMAGES

_S3 = {
    "type": "string",
    "pattern": "^s3://[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9](/.*)?$",
    "maxLength": rules.MAX_S3_URI,
}
_ENABLED = {"type": "object", "properties": {"enabled": {"const": True}}, "required": ["enabled"]}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def _hyperparameters() -> dict[str, Any]:
    return {
        "type": "object",
        "propertyNames": {"maxLength": rules.MAX_HYPERPARAMETER_KEY, "not": {"pattern": "^sagemaker_"}},
        "maxProperties": rules.MAX_HYPERPARAMETERS,
    }


def _estimator() -> dict[str, Any]:
    ids = {"type": "string", "pattern": "^[-0-9a-zA-Z]+$", "maxLength": rules.MAX_VPC_ID}
    strategies: dict[str, Any] = {name: {**_ENABLED, "additionalProperties": False} for name in STRATEGIES}
    strategies["mpi"] = _closed(
        {
            "enabled": {"const": True},
            "processes_per_host": {"type": "integer", "minimum": 1},
            "custom_mpi_options": {"type": "string"},
        },
        ["enabled"],
    )
    strategies["smdistributed"] = _closed(
        {
            "dataparallel": _closed(
                {"enabled": {"const": True}, "custom_mpi_options": {"type": "string"}}, ["enabled"]
            )
        },
        ["dataparallel"],
    )
    tag = _closed(
        {
            "Key": {"type": "string", "minLength": 1, "maxLength": rules.MAX_TAG_KEY},
            "Value": {"type": "string", "maxLength": rules.MAX_TAG_VALUE},
        },
        ["Key", "Value"],
    )
    props: dict[str, Any] = {
        "entry_point": {
            "type": "string",
            "minLength": 1,
            "description": "script run by the toolkit, relative to source_dir",
        },
        "source_dir": {
            "type": "string",
            "description": "s3://...tar.gz, or a local directory the CLI uploads",
        },
        "image_uri": {
            "anyOf": [
                {"enum": list(PACKAGED_IMAGES)},
                {"type": "string", "pattern": "^[^\\s/]+(/[^\\s/]+)+$"},
            ],
            "description": "packaged image name or full image URI",
        },
        "framework_version": {"type": "string", "pattern": "^\\d+(\\.\\d+){0,2}$"},
        "py_version": {"type": "string", "pattern": "^py3\\d{0,2}$"},
        "role": {
            "type": "string",
            "pattern": "^arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$",
        },
        "instance_type": {"type": "string", "pattern": "^ml\\.[a-z0-9-]+\\.[a-z0-9-]+$"},
        "instance_count": {"type": "integer", "minimum": 1},
        "volume_size": {"type": "integer", "minimum": 1, "default": 30},
        "distribution": {**_closed(strategies), "minProperties": 1, "maxProperties": 1},
        "hyperparameters": _hyperparameters(),
        "environment": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
            "additionalProperties": {"type": "string", "maxLength": rules.MAX_ENVIRONMENT_VALUE},
            "maxProperties": rules.MAX_ENVIRONMENT,
        },
        "use_spot_instances": {"type": "boolean"},
        "max_run": {"type": "integer", "minimum": 1, "default": 86400},
        "max_wait": {"type": "integer", "minimum": 1, "description": "spot only; >= max_run"},
        "checkpoint_s3_uri": _S3,
        "checkpoint_local_path": {"type": "string", "pattern": "^/"},
        "keep_alive_period_in_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": rules.MAX_KEEP_ALIVE_SECONDS,
        },
        "max_retry_attempts": {
            "type": "integer",
            "minimum": rules.MIN_RETRY_ATTEMPTS,
            "maximum": rules.MAX_RETRY_ATTEMPTS,
        },
        "metric_definitions": {
            "type": "array",
            "maxItems": rules.MAX_METRIC_DEFINITIONS,
            "items": _closed(
                {
                    "Name": {"type": "string", "minLength": 1, "maxLength": rules.MAX_METRIC_NAME},
                    "Regex": {"type": "string", "minLength": 1, "maxLength": rules.MAX_METRIC_REGEX},
                },
                ["Name", "Regex"],
            ),
        },
        "subnets": {"type": "array", "items": ids, "minItems": 1, "maxItems": rules.MAX_SUBNETS},
        "security_group_ids": {
            "type": "array",
            "items": ids,
            "minItems": 1,
            "maxItems": rules.MAX_SECURITY_GROUPS,
        },
        "enable_network_isolation": {"type": "boolean"},
        "encrypt_inter_container_traffic": {"type": "boolean"},
        "output_path": _S3,
        "base_job_name": {"type": "string", "pattern": "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"},
        "tags": {
            "anyOf": [
                {"type": "array", "items": tag, "maxItems": rules.MAX_SPEC_TAGS},
                {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "maxProperties": rules.MAX_SPEC_TAGS,
                },
            ]
        },
        "input_mode": {"enum": list(rules.TRAINING_INPUT_MODES)},
    }
    assert set(props) == set(ESTIMATOR_KEYS), "schema and parser disagree on estimator keys"
    return _closed(props, ["entry_point", "image_uri", "instance_type", "instance_count"])


def _channel() -> dict[str, Any]:
    s3_object = _closed(
        {
            "s3_data": _S3,
            "distribution": {"enum": list(rules.S3_DISTRIBUTIONS)},
            "s3_data_type": {"enum": list(rules.S3_DATA_TYPES)},
            "input_mode": {"enum": list(rules.TRAINING_INPUT_MODES)},
            "content_type": {"type": "string", "maxLength": rules.MAX_CONTENT_TYPE},
            "compression": {"enum": list(rules.COMPRESSION_TYPES)},
            "record_wrapping": {"enum": list(rules.RECORD_WRAPPERS)},
            "attribute_names": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "maxItems": rules.MAX_ATTRIBUTE_NAMES,
            },
        },
        ["s3_data"],
    )
    fs_object = _closed(
        {
            "file_system_id": {"type": "string", "pattern": "^fs-[0-9a-f]{8,17}$"},
            "file_system_type": {"enum": list(rules.FILE_SYSTEM_TYPES)},
            "directory_path": {"type": "string", "pattern": "^/"},
            "file_system_access_mode": {"enum": list(rules.FILE_SYSTEM_ACCESS_MODES)},
            "content_type": {"type": "string"},
        },
        ["file_system_id", "file_system_type", "directory_path"],
    )
    shortcut = _closed(
        {
            "file_system": {"enum": ["fsx", "efs"]},
            "path": {"type": "string"},
            "file_system_access_mode": {"enum": list(rules.FILE_SYSTEM_ACCESS_MODES)},
        },
        ["file_system", "path"],
    )
    assert (
        set(s3_object["properties"]) == S3_CHANNEL_KEYS
        and set(fs_object["properties"]) == FILE_SYSTEM_CHANNEL_KEYS
    )
    assert set(shortcut["properties"]) == SHORTCUT_KEYS
    # `{"s3": "data", "path": ...}`: the platform's data bucket, with TrainingInput's options.
    s3_options = {k: v for k, v in s3_object["properties"].items() if k != "s3_data"}
    s3_shortcut = _closed(
        {"s3": {"enum": ["data"]}, "path": {"type": "string", "minLength": 1}, **s3_options}, ["s3", "path"]
    )
    assert set(s3_shortcut["properties"]) == S3_SHORTCUT_KEYS
    return {"oneOf": [_S3, s3_object, fs_object, shortcut, s3_shortcut]}


def job_spec_schema() -> dict[str, Any]:
    sweep = _closed(
        {
            "overrides": {"type": "array", "items": _hyperparameters(), "minItems": 1},
            "max_concurrency": {"type": "integer", "minimum": 1},
            "objective": _closed(
                {"metric": {"type": "string", "minLength": 1}, "goal": {"enum": list(GOALS)}}, ["metric"]
            ),
        },
        ["overrides", "objective"],
    )
    assert set(sweep["properties"]) == set(SWEEP_KEYS)
    top = _closed(
        {
            "framework": {"enum": list(FRAMEWORKS)},
            "job_name": {"type": "string", "pattern": "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", "maxLength": 63},
            "estimator": _estimator(),
            "inputs": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9.\\-_]+$", "maxLength": rules.MAX_CHANNEL_NAME},
                "additionalProperties": _channel(),
                "maxProperties": rules.MAX_CHANNELS,
            },
            "sweep": sweep,
        },
        ["framework", "estimator"],
    )
    assert set(top["properties"]) == set(TOP_LEVEL_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://dtrain.invalid/job-spec.schema.json",
        "title": "dtrain job spec",
        "description": "SageMaker SDK v2 estimator arguments + fit() inputs; see JOBSPEC.md",
        **top,
    }
