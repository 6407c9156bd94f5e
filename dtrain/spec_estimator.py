"""The `estimator` block: SDK v2 PyTorch / TensorFlow keyword arguments, typed and checked.

Every check here is one the request would otherwise fail later (in botocore, in SageMaker,
or hours into a job); each error names the field, the value and the rule.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dtrain import spec_rules as rules
from dtrain.channels import check_s3_uri
from dtrain.distribution import (
    MWMS_MIN_TF_VERSION,
    SMDDP_INSTANCE_TYPES,
    DistributionSpec,
    distribution_hyperparameters,
    parse_distribution,
)
from dtrain.errors import ErrorCollector

PACKAGED_IMAGES = ("ddp", "horovod")
DEFAULT_MAX_RUN = 24 * 60 * 60  # SDK v2 default
DEFAULT_VOLUME_SIZE = 30  # SDK v2 default, GB
ESTIMATOR_KEYS = (
    "entry_point",
    "source_dir",
    "image_uri",
    "framework_version",
    "py_version",
    "role",
    "instance_type",
    "instance_count",
    "volume_size",
    "distribution",
    "hyperparameters",
    "environment",
    "use_spot_instances",
    "max_run",
    "max_wait",
    "checkpoint_s3_uri",
    "checkpoint_local_path",
    "keep_alive_period_in_seconds",
    "max_retry_attempts",
    "metric_definitions",
    "subnets",
    "security_group_ids",
    "enable_network_isolation",
    "encrypt_inter_container_traffic",
    "output_path",
    "base_job_name",
    "tags",
    "input_mode",
)
# Keys the builder adds (script mode, per strategy, TensorFlow's model_dir): a user value
# would be overwritten by the SDK, so it is refused instead of silently lost.
RESERVED_HYPERPARAMETER_PREFIX = "sagemaker_"
SCRIPT_MODE_KEYS = 5  # program, submit_directory, container_log_level, job_name, region
_VERSION_RE = re.compile(r"\d+(\.\d+){0,2}")
_PY_VERSION_RE = re.compile(r"py3\d{0,2}")
_IMAGE_URI_RE = re.compile(r"[^\s/]+(/[^\s/]+)+")
_MAX_ENTRY_POINT = 256
_MAX_LOCAL_PATH = 4096


@dataclass(frozen=True)
class EstimatorSpec:
    entry_point: str
    image_uri: str
    instance_type: str
    instance_count: int
    source_dir: str | None = None
    framework_version: str | None = None
    py_version: str | None = None
    role: str | None = None
    volume_size: int = DEFAULT_VOLUME_SIZE
    distribution: DistributionSpec | None = None
    hyperparameters: Mapping[str, Any] | None = None
    environment: Mapping[str, str] | None = None
    use_spot_instances: bool = False
    max_run: int = DEFAULT_MAX_RUN
    max_wait: int | None = None
    checkpoint_s3_uri: str | None = None
    checkpoint_local_path: str | None = None
    keep_alive_period_in_seconds: int | None = None
    max_retry_attempts: int | None = None
    metric_definitions: tuple[tuple[str, str], ...] | None = None
    subnets: tuple[str, ...] | None = None
    security_group_ids: tuple[str, ...] | None = None
    enable_network_isolation: bool = False
    encrypt_inter_container_traffic: bool = False
    output_path: str | None = None
    base_job_name: str | None = None
    tags: tuple[tuple[str, str], ...] | None = None
    input_mode: str = "File"

    @property
    def packaged_image(self) -> str | None:
        """'ddp' / 'horovod' when the image is one the platform builds, else None."""
        return self.image_uri if self.image_uri in PACKAGED_IMAGES else None

    @property
    def code_in_image(self) -> bool:
        """Packaged image and no source_dir: the code is baked in at /opt/ml/code."""
        return self.packaged_image is not None and self.source_dir is None

    @property
    def local_source(self) -> bool:
        """Code that the CLI must upload (a local source_dir, or a lone local entry point)."""
        if self.code_in_image:
            return False
        return self.source_dir is None or not self.source_dir.startswith("s3://")


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


class _Reader:
    """Typed getters over one object that record errors instead of raising."""

    def __init__(self, data: Mapping[str, object], field: str, errors: ErrorCollector) -> None:
        self.data = data
        self.field = field
        self.errors = errors

    def path(self, key: str) -> str:
        return f"{self.field}.{key}" if self.field else key

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        max_len: int = 256,
        pattern: re.Pattern[str] | None = None,
        rule: str = "",
    ) -> str | None:
        if key not in self.data or self.data[key] is None:
            if required:
                self.errors.add(self.path(key), None, f"required{': ' + rule if rule else ''}")
            return None
        value = self.data[key]
        if not isinstance(value, str) or not value or "\n" in value or len(value) > max_len:
            self.errors.add(
                self.path(key), value, f"must be a non-empty one-line string of at most {max_len} characters"
            )
            return None
        if pattern is not None and not rules.full_match(pattern, value):
            self.errors.add(self.path(key), value, rule or f"must match {pattern.pattern}")
            return None
        return value

    def integer(
        self, key: str, *, minimum: int, maximum: int | None = None, required: bool = False
    ) -> int | None:
        if key not in self.data or self.data[key] is None:
            if required:
                self.errors.add(self.path(key), None, f"required: an integer >= {minimum}")
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors.add(self.path(key), value, "must be an integer")
            return None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.errors.add(self.path(key), value, f"must be {bound}")
            return None
        return value

    def boolean(self, key: str) -> bool:
        value = self.data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.errors.add(self.path(key), value, "must be true or false")
            return False
        return value

    def enum(self, key: str, allowed: tuple[str, ...]) -> str | None:
        if key not in self.data or self.data[key] is None:
            return None
        value = self.data[key]
        if not isinstance(value, str) or value not in allowed:
            self.errors.add(self.path(key), value, f"must be one of {', '.join(allowed)}")
            return None
        return value

    def id_list(self, key: str, max_items: int) -> tuple[str, ...] | None:
        if key not in self.data or self.data[key] is None:
            return None
        value = self.data[key]
        if (
            not isinstance(value, list)
            or not 1 <= len(value) <= max_items
            or not all(
                isinstance(v, str) and len(v) <= rules.MAX_VPC_ID and rules.full_match(rules.VPC_ID_RE, v)
                for v in value
            )
        ):
            self.errors.add(
                self.path(key),
                value,
                f"must be a list of 1 to {max_items} ids (letters, digits, '-'; <= 32 chars)",
            )
            return None
        return tuple(value)


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
        if not isinstance(key, str) or not key or "\n" in key or len(key) > rules.MAX_HYPERPARAMETER_KEY:
            errors.add(
                path, key, f"names must be one-line strings of 1 to {rules.MAX_HYPERPARAMETER_KEY} characters"
            )
            continue
        if key.startswith(RESERVED_HYPERPARAMETER_PREFIX):
            errors.add(
                path, item, "reserved: sagemaker_* hyperparameters are set from the spec's other fields"
            )
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


def _check_environment(field: str, value: object, errors: ErrorCollector) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        errors.add(field, value, "must be an object of NAME -> string")
        return None
    before = len(errors.errors)
    if len(value) > rules.MAX_ENVIRONMENT:
        errors.add(field, len(value), f"at most {rules.MAX_ENVIRONMENT} variables")
    for key, item in value.items():
        if (
            not isinstance(key, str)
            or len(key) > rules.MAX_ENVIRONMENT_KEY
            or not rules.full_match(rules.ENV_KEY_RE, key)
        ):
            errors.add(f"{field}.{key}", key, "names must match [a-zA-Z_][a-zA-Z0-9_]* (<= 512 chars)")
        elif not isinstance(item, str) or len(item) > rules.MAX_ENVIRONMENT_VALUE:
            errors.add(
                f"{field}.{key}",
                item,
                f"values must be strings of at most {rules.MAX_ENVIRONMENT_VALUE} characters",
            )
    return dict(value) if len(errors.errors) == before else None


def check_tag(field: str, key: object, value: object, errors: ErrorCollector) -> bool:
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= rules.MAX_TAG_KEY
        or not rules.full_match(rules.TAG_RE, key)
        or key.lower().startswith("aws:")
    ):
        errors.add(field, key, "tag keys: 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:")
        return False
    if (
        not isinstance(value, str)
        or len(value) > rules.MAX_TAG_VALUE
        or not rules.full_match(rules.TAG_RE, value)
    ):
        errors.add(field, value, "tag values: at most 256 letters, digits, spaces or _.:/=+-@")
        return False
    return True


def _check_tags(field: str, value: object, errors: ErrorCollector) -> tuple[tuple[str, str], ...] | None:
    pairs: list[tuple[object, object]] = []
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, Mapping) or set(item) != {"Key", "Value"}:
                errors.add(f"{field}[{i}]", item, 'must be {"Key": ..., "Value": ...}')
                return None
            pairs.append((item["Key"], item["Value"]))
    else:
        errors.add(field, value, 'must be a list of {"Key", "Value"} or an object of key -> value')
        return None
    if len(pairs) > rules.MAX_SPEC_TAGS:
        errors.add(
            field, len(pairs), f"at most {rules.MAX_SPEC_TAGS} tags (Submit adds {rules.EXECUTION_TAG_KEY})"
        )
        return None
    ok = all(check_tag(f"{field}[{i}]", k, v, errors) for i, (k, v) in enumerate(pairs))
    keys = [k for k, _ in pairs]
    if ok and len(set(keys)) != len(keys):
        errors.add(field, keys, "tag keys must be unique")
        return None
    return tuple((str(k), str(v)) for k, v in pairs) if ok else None


def _check_metric_definitions(
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
        if not isinstance(item, Mapping) or set(item) != {"Name", "Regex"}:
            errors.add(path, item, 'must be {"Name": ..., "Regex": ...}')
            continue
        name, regex = item["Name"], item["Regex"]
        if not isinstance(name, str) or not 1 <= len(name) <= rules.MAX_METRIC_NAME or "\n" in name:
            errors.add(
                f"{path}.Name", name, f"must be a one-line string of 1 to {rules.MAX_METRIC_NAME} characters"
            )
            continue
        if not isinstance(regex, str) or not 1 <= len(regex) <= rules.MAX_METRIC_REGEX or "\n" in regex:
            errors.add(
                f"{path}.Regex",
                regex,
                f"must be a one-line string of 1 to {rules.MAX_METRIC_REGEX} characters",
            )
            continue
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            errors.add(f"{path}.Regex", regex, f"not a valid regular expression: {exc}")
            continue
        if compiled.groups < 1:
            errors.add(f"{path}.Regex", regex, "needs one capture group: the metric value")
            continue
        out.append((name, regex))
    return tuple(out) if len(errors.errors) == before else None


def added_hyperparameter_count(
    framework: str, distribution: DistributionSpec | None, instance_type: str
) -> int:
    """How many hyperparameters the builder adds: script mode, the strategy's, TF's model_dir."""
    return (
        SCRIPT_MODE_KEYS
        + len(distribution_hyperparameters(distribution, instance_type))
        + (1 if framework == "tensorflow" else 0)
    )


def parse_estimator(data: object, framework: str, errors: ErrorCollector) -> EstimatorSpec | None:
    field = "estimator"
    if not isinstance(data, Mapping):
        errors.add(field, data, "required: an object of SDK v2 estimator arguments")
        return None
    before = len(errors.errors)
    for key in data:
        if key not in ESTIMATOR_KEYS:
            errors.add(f"{field}.{key}", data[key], rules.unknown_key_rule(str(key), ESTIMATOR_KEYS))
    r = _Reader(data, field, errors)
    entry_point = r.string("entry_point", required=True, max_len=_MAX_ENTRY_POINT)
    if entry_point is not None and ("://" in entry_point or entry_point.startswith("/")):
        errors.add(
            f"{field}.entry_point",
            entry_point,
            "must be a path relative to source_dir (or to the image's code dir)",
        )
    source_dir = r.string("source_dir", max_len=_MAX_LOCAL_PATH)
    if source_dir is not None and source_dir.startswith("s3://"):
        check_s3_uri(f"{field}.source_dir", source_dir, errors)
        if not source_dir.endswith(".tar.gz"):
            errors.add(
                f"{field}.source_dir",
                source_dir,
                "an S3 source_dir must be a .tar.gz tarball (as SDK v2 expects)",
            )
    elif source_dir is not None and "://" in source_dir:
        errors.add(f"{field}.source_dir", source_dir, "must be an s3:// tarball or a local directory")
    image_uri = r.string(
        "image_uri",
        required=True,
        max_len=rules.MAX_TRAINING_IMAGE,
        rule="a packaged image name (ddp, horovod) or a full image URI; dtrain does not look up "
        "Deep Learning Container URIs",
    )
    if (
        image_uri is not None
        and image_uri not in PACKAGED_IMAGES
        and not rules.full_match(_IMAGE_URI_RE, image_uri)
    ):
        errors.add(
            f"{field}.image_uri",
            image_uri,
            "must be 'ddp', 'horovod' or a registry/repository[:tag] URI; "
            + rules.did_you_mean(image_uri, PACKAGED_IMAGES),
        )
    framework_version = r.string(
        "framework_version", max_len=16, pattern=_VERSION_RE, rule="must be a version such as 2.1 or 2.1.0"
    )
    py_version = r.string(
        "py_version", max_len=8, pattern=_PY_VERSION_RE, rule="must be py3 or py3NN (py310)"
    )
    role = r.string(
        "role",
        max_len=rules.MAX_ROLE_ARN,
        pattern=rules.ROLE_ARN_RE,
        rule="must be an IAM role ARN (arn:aws:iam::123456789012:role/name)",
    )
    instance_type = r.string(
        "instance_type",
        required=True,
        max_len=64,
        pattern=rules.INSTANCE_TYPE_RE,
        rule="must be a SageMaker instance type: ml.<family>.<size>",
    )
    instance_count = r.integer("instance_count", minimum=1, required=True)
    volume_size = r.integer("volume_size", minimum=1)
    distribution = (
        parse_distribution(f"{field}.distribution", data["distribution"], framework, errors)
        if data.get("distribution") is not None
        else None
    )
    hyperparameters = (
        check_hyperparameters(f"{field}.hyperparameters", data["hyperparameters"], framework, errors)
        if data.get("hyperparameters") is not None
        else {}
    )
    environment = (
        _check_environment(f"{field}.environment", data["environment"], errors)
        if data.get("environment") is not None
        else None
    )
    spot = r.boolean("use_spot_instances")
    max_run = r.integer("max_run", minimum=1)
    max_wait = r.integer("max_wait", minimum=1)
    checkpoint_s3_uri = (
        check_s3_uri(f"{field}.checkpoint_s3_uri", data["checkpoint_s3_uri"], errors)
        if data.get("checkpoint_s3_uri") is not None
        else None
    )
    checkpoint_local_path = r.string("checkpoint_local_path", max_len=_MAX_LOCAL_PATH)
    if checkpoint_local_path is not None and not checkpoint_local_path.startswith("/"):
        errors.add(
            f"{field}.checkpoint_local_path",
            checkpoint_local_path,
            "must be an absolute path in the container",
        )
    keep_alive = r.integer("keep_alive_period_in_seconds", minimum=0, maximum=rules.MAX_KEEP_ALIVE_SECONDS)
    max_retry = r.integer(
        "max_retry_attempts", minimum=rules.MIN_RETRY_ATTEMPTS, maximum=rules.MAX_RETRY_ATTEMPTS
    )
    metric_definitions = (
        _check_metric_definitions(f"{field}.metric_definitions", data["metric_definitions"], errors)
        if data.get("metric_definitions") is not None
        else None
    )
    subnets = r.id_list("subnets", rules.MAX_SUBNETS)
    security_group_ids = r.id_list("security_group_ids", rules.MAX_SECURITY_GROUPS)
    if (data.get("subnets") is None) != (data.get("security_group_ids") is None):
        errors.add(
            f"{field}.subnets",
            data.get("subnets"),
            "subnets and security_group_ids go together: give both or neither",
        )
    isolation = r.boolean("enable_network_isolation")
    encrypt = r.boolean("encrypt_inter_container_traffic")
    output_path = (
        check_s3_uri(f"{field}.output_path", data["output_path"], errors)
        if data.get("output_path") is not None
        else None
    )
    base_job_name = r.string(
        "base_job_name",
        max_len=rules.MAX_JOB_NAME_LENGTH,
        pattern=rules.JOB_NAME_RE,
        rule="must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    )
    tags = _check_tags(f"{field}.tags", data["tags"], errors) if data.get("tags") is not None else None
    input_mode = r.enum("input_mode", rules.TRAINING_INPUT_MODES)

    # Cross-field rules.
    effective_max_run = max_run if max_run is not None else DEFAULT_MAX_RUN
    if spot:
        if max_wait is None and "max_wait" not in data:
            errors.add(
                f"{field}.max_wait",
                None,
                "required with use_spot_instances: how long to wait for spot capacity, >= max_run",
            )
        elif max_wait is not None and max_wait < effective_max_run:
            errors.add(
                f"{field}.max_wait",
                max_wait,
                f"less than max_run {effective_max_run}; spot jobs need max_wait >= max_run",
            )
    elif max_wait is not None:
        errors.add(
            f"{field}.max_wait",
            max_wait,
            "only for spot jobs: set use_spot_instances to true or remove max_wait",
        )
    if (
        distribution is not None
        and distribution.strategy == "smdistributed"
        and instance_type is not None
        and instance_type not in SMDDP_INSTANCE_TYPES
    ):
        errors.add(
            f"{field}.instance_type",
            instance_type,
            f"smdistributed dataparallel runs only on {', '.join(sorted(SMDDP_INSTANCE_TYPES))}",
        )
    if distribution is not None and distribution.strategy == "multi_worker_mirrored_strategy":
        if framework_version is None:
            errors.add(
                f"{field}.framework_version",
                None,
                "required with multi_worker_mirrored_strategy (TensorFlow >= 2.9)",
            )
        elif version_tuple(framework_version) < MWMS_MIN_TF_VERSION:
            errors.add(
                f"{field}.framework_version",
                framework_version,
                "multi_worker_mirrored_strategy needs TensorFlow >= 2.9",
            )
    if hyperparameters is not None and instance_type is not None:
        added = added_hyperparameter_count(framework, distribution, instance_type)
        if len(hyperparameters) + added > rules.MAX_HYPERPARAMETERS:
            errors.add(
                f"{field}.hyperparameters",
                len(hyperparameters),
                f"too many: at most {rules.MAX_HYPERPARAMETERS - added} here "
                f"({added} more are added for script mode and the distribution)",
            )

    if len(errors.errors) > before:
        return None
    assert (
        entry_point is not None
        and image_uri is not None
        and instance_type is not None
        and instance_count is not None
    )
    return EstimatorSpec(
        entry_point=entry_point,
        image_uri=image_uri,
        instance_type=instance_type,
        instance_count=instance_count,
        source_dir=source_dir,
        framework_version=framework_version,
        py_version=py_version,
        role=role,
        volume_size=volume_size if volume_size is not None else DEFAULT_VOLUME_SIZE,
        distribution=distribution,
        hyperparameters=hyperparameters,
        environment=environment,
        use_spot_instances=spot,
        max_run=effective_max_run,
        max_wait=max_wait,
        checkpoint_s3_uri=checkpoint_s3_uri,
        checkpoint_local_path=checkpoint_local_path,
        keep_alive_period_in_seconds=keep_alive,
        max_retry_attempts=max_retry,
        metric_definitions=metric_definitions,
        subnets=subnets,
        security_group_ids=security_group_ids,
        enable_network_isolation=isolation,
        encrypt_inter_container_traffic=encrypt,
        output_path=output_path,
        base_job_name=base_job_name,
        tags=tags,
        input_mode=input_mode or "File",
    )
