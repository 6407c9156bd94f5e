"""Checks of the estimator's structured values (hyperparameters, tags, debugger configs, ...).

Each takes the spec field's path, the raw value and the error collector; it returns the
checked value, or None after recording one error per broken rule. Limits are the
CreateTrainingJob model's (dtrain.jobspec.spec_rules); the SDK 2.220 class each mirrors is named.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.values import (
    AnyOf,
    Bool,
    Const,
    Each,
    Kind,
    ListOf,
    MapOf,
    Nested,
    NotPrefixed,
    OneOf,
    Refined,
    S3Uri,
    StrMap,
    Table,
    Text,
    check_tag,
    check_tags,
    s3_uri_problem,
)

__all__ = ["check_tag", "check_tags"]  # re-exported: the tag rule lives in dtrain.jobspec.values

# Keys the builder adds (script mode, per strategy, TensorFlow's model_dir): a user value
# would be overwritten by the SDK, so it is refused instead of silently lost.
RESERVED_HYPERPARAMETER_PREFIX = "sagemaker_"
# DebugHookConfig.HookParameters / CollectionConfigurations: at most 20 (botocore model).
MAX_DEBUGGER_PARAMETERS = 20


def _json_scalar_ok(value: object) -> bool:
    """JSON-encodable as the SDK would (json.dumps) and finite: no NaN/Infinity sneaks through."""
    if isinstance(value, float):
        return math.isfinite(value)
    if value is None or isinstance(value, str | int | bool):
        return True
    if isinstance(value, list):
        return all(_json_scalar_ok(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _json_scalar_ok(v) for k, v in value.items())
    return False


# A user's hyperparameter name: one line of 1 to MAX_HYPERPARAMETER_KEY characters (botocore
# HyperParameterKey), not one of the `sagemaker_` names the builder sets. The estimator's schema
# takes its propertyNames from it, so the reserved prefix is written once.
HYPERPARAMETER_NAME = NotPrefixed(
    Text(
        rules.MAX_HYPERPARAMETER_KEY,
        rule=f"names must be one-line strings of 1 to {rules.MAX_HYPERPARAMETER_KEY} characters",
        one_rule=True,
    ),
    RESERVED_HYPERPARAMETER_PREFIX,
    "reserved: sagemaker_* hyperparameters are set from the spec's other fields",
)


def hyperparameters_schema() -> dict[str, Any]:
    """The names' rule from HYPERPARAMETER_NAME; maxProperties is the service's limit, which the
    parser applies later, across fields (estimator_rules.hyperparameters_fit counts the
    hyperparameters the builder adds too), so here it stays the schema's bound alone."""
    return {
        "type": "object",
        "propertyNames": HYPERPARAMETER_NAME.schema(),
        "maxProperties": rules.MAX_HYPERPARAMETERS,
    }


def check_hyperparameters(
    field: str, value: object, framework: str, errors: ErrorCollector
) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        errors.add(field, value, "must be an object of name -> value")
        return None
    before = len(errors.errors)
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{field}.{key}"
        if (problem := HYPERPARAMETER_NAME(key)) is not None:
            # A malformed name is shown as is; a reserved one with its value, as before.
            shown = key if HYPERPARAMETER_NAME.kind(key) is not None else item
            errors.add(path, shown, problem)
            continue
        if framework == "tensorflow" and key == "model_dir":
            errors.add(
                path,
                item,
                "reserved for TensorFlow: model_dir is derived "
                "(output_path/job/model, or /opt/ml/model under MPI)",
            )
            continue
        if not _json_scalar_ok(item):
            errors.add(
                path, item, "must be a JSON value (string, number, boolean, null, list, object), finite"
            )
            continue
        encoded = json.dumps(item)
        if len(encoded) > rules.MAX_HYPERPARAMETER_VALUE:
            errors.add(path, item, f"JSON-encoded longer than {rules.MAX_HYPERPARAMETER_VALUE} characters")
            continue
        out[key] = item
    return out if len(errors.errors) == before else None


# Environment: at most MAX_ENVIRONMENT variables, names [a-zA-Z_][a-zA-Z0-9_]* of at most
# MAX_ENVIRONMENT_KEY characters, values strings of at most MAX_ENVIRONMENT_VALUE (botocore model).
ENVIRONMENT = MapOf(
    Text(
        rules.MAX_ENVIRONMENT_KEY,
        rules.ENV_KEY_RE,
        f"names must match [a-zA-Z_][a-zA-Z0-9_]* (<= {rules.MAX_ENVIRONMENT_KEY} chars)",
        one_rule=True,
    ),
    Text(
        rules.MAX_ENVIRONMENT_VALUE,
        rule=f"values must be strings of at most {rules.MAX_ENVIRONMENT_VALUE} characters",
        allow_empty=True,
        one_rule=True,
        one_line=False,
    ),
    rules.MAX_ENVIRONMENT,
    "NAME -> string",
    "variables",
)


@dataclass(frozen=True)
class MetricRegex(Kind):
    """A metric definition's Regex: one line of 1 to MAX_METRIC_REGEX characters that Python's re
    compiles, with a capture group for the value (what SageMaker reads from the log)."""

    def __call__(self, value: object) -> str | None:
        if not isinstance(value, str) or not 1 <= len(value) <= rules.MAX_METRIC_REGEX or "\n" in value:
            return f"must be a one-line string of 1 to {rules.MAX_METRIC_REGEX} characters"
        try:
            compiled = re.compile(value)
        except re.error as exc:
            return f"not a valid regular expression: {exc}"
        return None if compiled.groups >= 1 else "needs one capture group: the metric value"

    def schema(self) -> dict[str, Any]:
        return Text(rules.MAX_METRIC_REGEX).schema()

    def describe(self) -> str:
        return f"regular expression, 1-{rules.MAX_METRIC_REGEX} characters, with one capture group"


# AlgorithmSpecification.MetricDefinitions[]: MetricDefinition's Name and Regex.
METRIC_TABLE = Table(
    "estimator.metric_definitions[]",
    {
        "Name": Text(
            rules.MAX_METRIC_NAME,
            rule=f"must be a one-line string of 1 to {rules.MAX_METRIC_NAME} characters",
            one_rule=True,
        ),
        "Regex": MetricRegex(),
    },
    required=("Name", "Regex"),
)


# The list check_metric_definitions walks, entry by entry.
METRIC_DEFINITIONS = ListOf("metric definition", METRIC_TABLE.schema, rules.MAX_METRIC_DEFINITIONS)


def metric_definitions_schema() -> dict[str, Any]:
    return METRIC_DEFINITIONS.schema()


def check_metric_definitions(
    field: str, value: object, errors: ErrorCollector
) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(value, list) or len(value) > rules.MAX_METRIC_DEFINITIONS:
        errors.add(
            field,
            value,
            f'must be a list of at most {rules.MAX_METRIC_DEFINITIONS} {{"Name", "Regex"}} objects',
        )
        return None
    out: list[tuple[str, str]] = []
    before = len(errors.errors)
    for i, item in enumerate(value):
        path = f"{field}[{i}]"
        if not isinstance(item, Mapping) or set(item) != set(METRIC_TABLE.args):
            errors.add(path, item, 'must be {"Name": ..., "Regex": ...}')
            continue
        mark = len(errors.errors)
        got = METRIC_TABLE.read(path, item, errors)
        if got is not None and len(errors.errors) == mark:
            out.append((got["Name"], got["Regex"]))
    return tuple(out) if len(errors.errors) == before else None


def closed_object(
    field: str, value: object, allowed: tuple[str, ...], errors: ErrorCollector
) -> Mapping[str, object] | None:
    """An object whose keys are among `allowed` (the SDK class's constructor arguments)."""
    if not isinstance(value, Mapping):
        errors.add(field, value, f"must be an object with keys among {', '.join(allowed)}")
        return None
    unknown = [k for k in value if k not in allowed]
    for key in unknown:
        errors.add(f"{field}.{key}", value[key], rules.unknown_key_rule(str(key), allowed))
    return None if unknown else value


def check_string_list(
    field: str, value: object, max_items: int, max_len: int, errors: ErrorCollector
) -> tuple[str, ...] | None:
    """A list of 1 to max_items one-line strings (ContainerEntrypoint, ContainerArguments)."""
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= max_items
        or not all(isinstance(v, str) and len(v) <= max_len and "\n" not in v for v in value)
    ):
        errors.add(field, value, f"must be a list of 1 to {max_items} one-line strings of <= {max_len} chars")
        return None
    return tuple(value)


# HookParameters / CollectionParameters: at most 20 entries, keys 1-256, values <= 256 chars.
STRING_PARAMETERS = StrMap(
    MAX_DEBUGGER_PARAMETERS,
    256,
    f"must be an object of at most {MAX_DEBUGGER_PARAMETERS} name -> string",
)


def _string_map(field: str, value: object, errors: ErrorCollector) -> dict[str, str] | None:
    got = STRING_PARAMETERS.read(field, value, "", errors)
    return dict(got) if isinstance(got, Mapping) else None


# A container path: absolute, at most MAX_DIRECTORY_PATH characters.
CONTAINER_PATH = Text(
    rules.MAX_DIRECTORY_PATH,
    re.compile(r"/.*", re.DOTALL),
    "must be an absolute path in the container",
    one_rule=True,
    one_line=False,
)
# SDK 2.220 CollectionConfig's arguments (DebugHookConfig.CollectionConfigurations[]).
COLLECTION_RULE = "required: a collection name of 1 to 256 characters"
COLLECTION_TABLE = Table(
    "estimator.debugger_hook_config.collection_configs[]",
    {
        "name": Text(256, rule=COLLECTION_RULE, one_rule=True, one_line=False),
        "parameters": STRING_PARAMETERS,
    },
    required=("name",),
    missing={"name": COLLECTION_RULE},
    nullable=True,
)
# SDK 2.220 DebuggerHookConfig's arguments; a null one is the argument left out.
DEBUGGER_HOOK_TABLE = Table(
    "estimator.debugger_hook_config",
    {
        "s3_output_path": S3Uri(bucket_name_rule=True),
        "container_local_output_path": CONTAINER_PATH,
        "hook_parameters": STRING_PARAMETERS,
        "collection_configs": ListOf(
            "collection",
            COLLECTION_TABLE.schema,
            MAX_DEBUGGER_PARAMETERS,
            rule='must be a list of {"name", "parameters"}',
        ),
    },
    nullable=True,
)
DEBUGGER_HOOK = AnyOf(
    Const(False, "false"),
    Nested(DEBUGGER_HOOK_TABLE),
    rule="DebuggerHookConfig's arguments, or false",
    description="object (`estimator.debugger_hook_config` below), or false",
)


def check_debugger_hook_config(field: str, value: object, errors: ErrorCollector) -> object:
    """SDK 2.220 DebuggerHookConfig as its request dict (S3OutputPath filled in later), or False."""
    if value is False:
        return False
    before = len(errors.errors)
    not_object = f"must be an object with keys among {', '.join(DEBUGGER_HOOK_TABLE.args)}"
    got = DEBUGGER_HOOK_TABLE.read(field, value, errors, not_object=not_object)
    if value is True:
        errors.add(field, value, "false turns the hook off; leave it out for the default hook")
    if got is None or len(errors.errors) > before:
        return None
    out: dict[str, Any] = {}
    if "s3_output_path" in got:
        out["S3OutputPath"] = got["s3_output_path"]
    if "container_local_output_path" in got:
        out["LocalPath"] = got["container_local_output_path"]
    if "hook_parameters" in got:
        out["HookParameters"] = dict(got["hook_parameters"])
    collections = got.get("collection_configs", [])
    out["CollectionConfigurations"] = []
    for i, item in enumerate(collections):
        entry = COLLECTION_TABLE.read(
            f"{field}.collection_configs[{i}]",
            item,
            errors,
            not_object=("must be an object with keys among name, parameters"),
        )
        if entry is None or "name" not in entry:
            continue
        config: dict[str, Any] = {"CollectionName": entry["name"]}
        if "parameters" in entry:
            config["CollectionParameters"] = dict(entry["parameters"])
        out["CollectionConfigurations"].append(config)
    if len(out["CollectionConfigurations"]) > MAX_DEBUGGER_PARAMETERS:
        errors.add(f"{field}.collection_configs", len(collections), "at most 20 collections")
    return out if len(errors.errors) == before else None


# ProfilerConfig.ProfilingIntervalInMilliseconds: "Valid values are 100, 200, 500, 1000
# (1 second), 5000 (5 seconds), and 60000 (1 minute) milliseconds" (SageMaker API reference).
PROFILING_INTERVALS = (100, 200, 500, 1000, 5000, 60000)
# SDK 2.220 ProfilerConfig's arguments; framework_profile_params is not taken: framework profiling
# is deprecated in SDK 2.220 (images after PyTorch 2.0 / TF 2.11 lack it). A null one is the
# argument left out, but for disable_profiler (true or false).
PROFILER_TABLE = Table(
    "estimator.profiler_config",
    {
        "s3_output_path": S3Uri(bucket_name_rule=True),
        "system_monitor_interval_millis": OneOf(
            *PROFILING_INTERVALS, rule=f"must be one of {', '.join(map(str, PROFILING_INTERVALS))}"
        ),
        "disable_profiler": Bool(),
    },
    nullable=True,
    null_checked=("disable_profiler",),
)


def check_profiler_config(field: str, value: object, errors: ErrorCollector) -> object:
    """SDK 2.220 ProfilerConfig as request fields."""
    before = len(errors.errors)
    not_object = f"must be an object with keys among {', '.join(PROFILER_TABLE.args)}"
    got = PROFILER_TABLE.read(field, value, errors, not_object=not_object)
    if got is None or len(errors.errors) > before:
        return None
    out: dict[str, Any] = {}
    if "s3_output_path" in got:
        out["S3OutputPath"] = got["s3_output_path"]
    if "system_monitor_interval_millis" in got:
        out["ProfilingIntervalInMilliseconds"] = got["system_monitor_interval_millis"]
    out["DisableProfiler"] = got.get("disable_profiler", False)
    return out


# SDK 2.220 TensorBoardOutputConfig's arguments; a null one is the argument left out.
TENSORBOARD_TABLE = Table(
    "estimator.tensorboard_output_config",
    {"s3_output_path": S3Uri(bucket_name_rule=True), "container_local_output_path": CONTAINER_PATH},
    required=("s3_output_path",),
    missing={"s3_output_path": "required: where TensorBoard files are synced in S3"},
    nullable=True,
)


def check_tensorboard_output_config(field: str, value: object, errors: ErrorCollector) -> object:
    """SDK 2.220 TensorBoardOutputConfig: S3OutputPath (required) and LocalPath."""
    before = len(errors.errors)
    not_object = f"must be an object with keys among {', '.join(TENSORBOARD_TABLE.args)}"
    got = TENSORBOARD_TABLE.read(field, value, errors, not_object=not_object)
    if got is None or len(errors.errors) > before:
        return None
    out: dict[str, Any] = {"S3OutputPath": got["s3_output_path"]}
    if "container_local_output_path" in got:
        out["LocalPath"] = got["container_local_output_path"]
    return out


PACKAGED_IMAGES = ("ddp", "horovod")
# The training scripts each packaged image bakes into its code directory (the COPY lines of
# training_code/<image>/Dockerfile; tests/dtrain/test_platform_grants.py reads them): without a
# source_dir, the job runs one of these.
BAKED_ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "ddp": ("train_ddp.py",),
    "horovod": ("train_hvd_keras.py", "train_hvd_torch.py", "train_tf_keras.py"),
}
_IMAGE_URI_RE = re.compile(r"[^\s/]+(/[^\s/]+)+")


def _relative_path_problem(value: str) -> str | None:
    if "://" in value or value.startswith("/"):
        return "must be a path relative to source_dir (or to the image's code dir)"
    return None


ENTRY_POINT = Refined(
    Text(256), _relative_path_problem, "relative path of the script (inside source_dir when given)"
)


def _source_dir_problem(value: str) -> str | None:
    if value.startswith("s3://"):
        problem = s3_uri_problem(value, bucket_name_rule=True)
        if problem is None and not value.endswith(".tar.gz"):
            return "an S3 source_dir must be a .tar.gz tarball (as SDK v2 expects)"
        return problem
    return "must be an s3:// tarball or a local directory" if "://" in value else None


SOURCE_DIR = Refined(
    Text(rules.MAX_DIRECTORY_PATH), _source_dir_problem, "local directory, or an s3:// tarball"
)

# AlgorithmSpecification.TrainingImage: at most 255 characters; dtrain also takes its packaged names.
IMAGE_FORMS = AnyOf(
    OneOf(*PACKAGED_IMAGES),
    Text(rules.MAX_TRAINING_IMAGE, _IMAGE_URI_RE),
    rule="must be 'ddp', 'horovod' or a registry/repository[:tag] URI",
)


def _image_problem(value: str) -> str | None:
    if IMAGE_FORMS(value) is None:
        return None
    return f"{IMAGE_FORMS.rule}; {rules.did_you_mean(value, PACKAGED_IMAGES)}"


IMAGE_URI = Refined(
    Text(
        rules.MAX_TRAINING_IMAGE,
        rule="a packaged image name (ddp, horovod) or a full image URI; dtrain does not look up "
        "Deep Learning Container URIs",
        one_rule=True,
    ),
    _image_problem,
    f"a packaged image ({', '.join(f'`{i}`' for i in PACKAGED_IMAGES)}) or an image URI",
    schema_kind=IMAGE_FORMS,
)

# TensorFlow's model_dir: an S3 URI or container path passed as is (a hyperparameter, JSON-encoded:
# two quotes within MAX_HYPERPARAMETER_VALUE), or false (none passed).
MODEL_DIR = AnyOf(
    Const(False, "false"),
    Text(rules.MAX_HYPERPARAMETER_VALUE - 2),
    rule="must be an S3 URI or a path in the container, or false to pass none",
    description="S3 URI or container path, or false",
)


def _local_directory_problem(value: str) -> str | None:
    return "must be a local directory: the SDK packs it with the code" if "://" in value else None


DEPENDENCY = Refined(
    Text(rules.MAX_DIRECTORY_PATH, rule="must be a local directory path", one_rule=True),
    _local_directory_problem,
)
DEPENDENCIES = Each(
    DEPENDENCY,
    None,
    "must be a list of local directories",
    min_items=1,
    description="list of local directories",
)


def check_dependencies(field: str, value: object, errors: ErrorCollector) -> tuple[str, ...] | None:
    """SDK 2.220 `dependencies`: local directories packed beside source_dir's contents (each
    item's problem under its own index, then the names the tarball would hold twice)."""
    if not isinstance(value, list) or not value:
        errors.add(field, value, DEPENDENCIES.rule)
        return None
    before = len(errors.errors)
    for i, item in enumerate(value):
        if (problem := DEPENDENCY(item)) is not None:
            errors.add(f"{field}[{i}]", item, problem)
    names = [str(item).rstrip("/").rsplit("/", 1)[-1] for item in value]
    if len(errors.errors) == before and len(set(names)) != len(names):
        errors.add(
            field, value, "two directories with the same name would overwrite each other in the tarball"
        )
    return tuple(value) if len(errors.errors) == before else None
