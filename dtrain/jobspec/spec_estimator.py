"""The `estimator` block: SDK v2 PyTorch / TensorFlow keyword arguments, typed and checked.

The arguments, their checks and defaults are dtrain.jobspec.estimator_args' table; the rules between
them are dtrain.jobspec.estimator_rules'. Every check is one the request would otherwise fail later
(in botocore, in SageMaker, or hours into a job); each error names the field, the value and
the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dtrain.jobspec.debugger_rules import RuleSpec
from dtrain.jobspec.distribution import DistributionSpec
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.estimator_args import (
    DEFAULT_CONTAINER_LOG_LEVEL,
    DEFAULT_MAX_RUN,
    DEFAULT_MODEL_CHANNEL,
    DEFAULT_VOLUME_SIZE,
    ESTIMATOR_KEYS,
    ESTIMATOR_TABLE,
    read_args,
)
from dtrain.jobspec.estimator_rules import (
    CROSS_FIELD_RULES,
    INSTANCE_SHAPE_SCHEMA,
    added_hyperparameter_count,
    version_tuple,
)
from dtrain.jobspec.estimator_values import PACKAGED_IMAGES, check_hyperparameters, check_tag
from dtrain.jobspec.instance_groups import InstanceGroup, primary_instance_type

__all__ = [
    "DEFAULT_MAX_RUN",
    "DEFAULT_VOLUME_SIZE",
    "ESTIMATOR_KEYS",
    "PACKAGED_IMAGES",
    "EstimatorSpec",
    "added_hyperparameter_count",
    "check_hyperparameters",
    "check_tag",
    "estimator_schema",
    "parse_estimator",
    "version_tuple",
]


@dataclass(frozen=True)
class EstimatorSpec:
    """The checked arguments: one attribute per accepted entry of dtrain.jobspec.estimator_args.ARGS."""

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
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
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
    container_log_level: int = DEFAULT_CONTAINER_LOG_LEVEL
    code_location: str | None = None
    dependencies: tuple[str, ...] | None = None
    model_dir: str | bool | None = None
    container_entry_point: tuple[str, ...] | None = None
    container_arguments: tuple[str, ...] | None = None
    enable_sagemaker_metrics: bool | None = None
    training_repository_access_mode: str | None = None
    training_repository_credentials_provider_arn: str | None = None
    volume_kms_key: str | None = None
    enable_infra_check: bool | None = None
    enable_remote_debug: bool | None = None
    enable_session_tag_chaining: bool | None = None
    output_kms_key: str | None = None
    disable_output_compression: bool = False
    model_uri: str | None = None
    model_channel_name: str = DEFAULT_MODEL_CHANNEL
    tensorboard_output_config: Mapping[str, Any] | None = None
    # False: no hook; a mapping: the DebugHookConfig request fields given; None: SDK default.
    debugger_hook_config: Mapping[str, Any] | bool | None = None
    profiler_config: Mapping[str, Any] | None = None
    disable_profiler: bool = False
    # Debugger / Profiler built-in rules (dtrain.jobspec.debugger_rules), in the spec's order.
    rules: tuple[RuleSpec, ...] | None = None
    # Heterogeneous cluster; instance_type / instance_count are then derived (parse_estimator).
    instance_groups: tuple[InstanceGroup, ...] | None = None

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


def parse_estimator(data: object, framework: str, errors: ErrorCollector) -> EstimatorSpec | None:
    if not isinstance(data, Mapping):
        errors.add("estimator", data, "required: an object of SDK v2 estimator arguments")
        return None
    before = len(errors.errors)
    values = read_args(data, framework, errors)
    for rule in CROSS_FIELD_RULES:
        rule(values, data, framework, errors)
    if len(errors.errors) > before:
        return None
    groups = values["instance_groups"]
    if groups is not None:
        # Heterogeneous cluster: the request sends the groups (dtrain.requests.training_request);
        # instance_type is the one SDK 2.220 looks the image up with and instance_count the hosts in
        # all groups, which is what cost estimates and local mode read.
        values["instance_type"] = primary_instance_type(groups)
        values["instance_count"] = sum(g.instance_count for g in groups)
        distribution = values["distribution"]
        if distribution is not None and not distribution.instance_groups and len(groups) == 1:
            # SDK 2.220 validate_distribution: one group not named in distribution trains.
            values["distribution"] = replace(distribution, instance_groups=(groups[0].name,))
    return EstimatorSpec(**values)


def estimator_schema() -> dict[str, Any]:
    """JSON Schema of the `estimator` block: ESTIMATOR_TABLE's, plus instance_shape, the one
    cross-field rule a schema can say."""
    return {**ESTIMATOR_TABLE.schema(), **INSTANCE_SHAPE_SCHEMA}
