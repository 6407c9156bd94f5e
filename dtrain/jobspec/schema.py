"""JSON Schema (draft 2020-12) of the job spec, for editors and CI.

Built from the same key lists and limits the parser uses, so the two cannot drift on
names; cross-field rules (spot needs max_wait >= max_run, one strategy, ...) are beyond a
schema and stay with `dtrain validate`.
"""

from __future__ import annotations

from typing import Any

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.channels import (
    FILE_SYSTEM_CHANNEL_KEYS,
    S3_CHANNEL_KEYS,
    S3_CHANNEL_TABLE,
    S3_SHORTCUT_KEYS,
    SHORTCUT_KEYS,
)
from dtrain.jobspec.estimator_args import ARGS, BOTH
from dtrain.jobspec.experiment_config import experiment_config_schema
from dtrain.jobspec.inference_spec import deploy_schema, transform_schema
from dtrain.jobspec.processing_spec import processing_schema
from dtrain.jobspec.spec import FRAMEWORKS, JOB_NAME, TOP_LEVEL_KEYS
from dtrain.jobspec.sweep_spec import SWEEP_TABLE
from dtrain.jobspec.values import S3_SCHEMA

_S3 = S3_SCHEMA


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def _estimator() -> dict[str, Any]:
    """Every SDK argument: accepted ones with their kind's schema, refused ones with the reason."""
    props: dict[str, Any] = {}
    for arg in ARGS:
        if arg.refused is not None:
            props[arg.name] = {"not": {}, "description": f"refused: {arg.refused}"}
            continue
        assert arg.kind is not None
        schema = arg.kind.schema()
        if arg.default_value() not in (None, {}):
            schema["default"] = arg.default_value()
        note = f"SDK {arg.sdk}; lands in {arg.where}"
        if arg.frameworks != BOTH:
            note += f"; {'/'.join(sorted(arg.frameworks))} only"
        props[arg.name] = {**schema, "description": note}
    out = _closed(props, [a.name for a in ARGS if a.required])
    # dtrain.jobspec.estimator_rules.instance_shape: a type and a count, or instance groups, not both.
    out["oneOf"] = [
        {"required": ["instance_type", "instance_count"], "not": {"required": ["instance_groups"]}},
        {
            "required": ["instance_groups"],
            "not": {"anyOf": [{"required": ["instance_type"]}, {"required": ["instance_count"]}]},
        },
    ]
    return out


def _channel() -> dict[str, Any]:
    s3_object = S3_CHANNEL_TABLE.schema()
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
    processing_output = _closed(
        {"processing_output": {"type": "string", "minLength": 1}}, ["processing_output"]
    )
    return {"oneOf": [_S3, s3_object, fs_object, shortcut, s3_shortcut, processing_output]}


def job_spec_schema() -> dict[str, Any]:
    top = _closed(
        {
            "framework": {"enum": list(FRAMEWORKS)},
            "job_name": JOB_NAME.schema(),
            "estimator": _estimator(),
            "inputs": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9.\\-_]+$", "maxLength": rules.MAX_CHANNEL_NAME},
                "additionalProperties": _channel(),
                "maxProperties": rules.MAX_CHANNELS,
            },
            "sweep": SWEEP_TABLE.schema(),
            "experiment_config": experiment_config_schema(),
            "processing": processing_schema(),
            "deploy": deploy_schema(),
            "transform": transform_schema(),
        },
        ["framework", "estimator"],
    )
    assert set(top["properties"]) == set(TOP_LEVEL_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://dtrain.invalid/job-spec.schema.json",
        "title": "dtrain job spec",
        "description": "SageMaker SDK v2 estimator arguments + fit() inputs; see docs/jobspec.md",
        **top,
    }
