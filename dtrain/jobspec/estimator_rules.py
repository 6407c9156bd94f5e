"""Cross-field rules of the estimator block: one small named function per rule.

Each takes the checked values (dtrain.jobspec.estimator_args.read_args) and records an error naming
the field, the value and the rule; values a per-field check refused are None here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.distribution import (
    MWMS_MIN_TF_VERSION,
    SMDDP_INSTANCE_TYPES,
    DistributionSpec,
    distribution_hyperparameters,
)
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.estimator_values import BAKED_ENTRY_POINTS, PACKAGED_IMAGES
from dtrain.jobspec.instance_groups import unknown_names

SCRIPT_MODE_KEYS = 5  # program, submit_directory, container_log_level, job_name, region


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def added_hyperparameter_count(
    framework: str, distribution: DistributionSpec | None, instance_type: str | None, model_dir: object = None
) -> int:
    """How many hyperparameters the builder adds: script mode, the strategy's, TF's model_dir."""
    return (
        SCRIPT_MODE_KEYS
        + len(distribution_hyperparameters(distribution, instance_type))
        + (1 if framework == "tensorflow" and model_dir is not False else 0)
    )


Values = Mapping[str, Any]
Rule = Callable[[Values, Mapping[str, object], str, ErrorCollector], None]


def spot_needs_max_wait(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    max_wait = v["max_wait"]
    if v["use_spot_instances"]:
        if max_wait is None and "max_wait" not in data:
            errors.add(
                "estimator.max_wait",
                None,
                "required with use_spot_instances: how long to wait for spot capacity, >= max_run",
            )
        elif max_wait is not None and v["max_run"] is not None and max_wait < v["max_run"]:
            errors.add(
                "estimator.max_wait",
                max_wait,
                f"less than max_run {v['max_run']}; spot jobs need max_wait >= max_run",
            )
    elif max_wait is not None:
        errors.add(
            "estimator.max_wait",
            max_wait,
            "only for spot jobs: set use_spot_instances to true or remove max_wait",
        )


def vpc_ids_go_together(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    if (data.get("subnets") is None) != (data.get("security_group_ids") is None):
        errors.add(
            "estimator.subnets",
            data.get("subnets"),
            "subnets and security_group_ids go together: give both or neither",
        )


def instance_shape(v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector) -> None:
    # SDK 2.220 _Job._prepare_resource_config: "instance_count and instance_type cannot be set
    # when instance_groups is set", and "must be set if instance_groups is not set".
    given = data.get("instance_groups") is not None
    for key in ("instance_type", "instance_count"):
        if given and data.get(key) is not None:
            errors.add(f"estimator.{key}", data[key], "not with instance_groups: each group has its own")
        elif not given and data.get(key) is None:
            errors.add(f"estimator.{key}", None, "required (or instance_groups for a heterogeneous cluster)")


def _given(key: str) -> dict[str, Any]:
    """JSON Schema: `key` present and not null (a null argument is the argument left out)."""
    return {"required": [key], "properties": {key: {"not": {"type": "null"}}}}


# instance_shape as a JSON Schema (the estimator's schema carries it): a type and a count, or
# instance groups, not both.
INSTANCE_SHAPE_SCHEMA: Final[dict[str, Any]] = {
    "oneOf": [
        {"allOf": [_given("instance_type"), _given("instance_count")], "not": _given("instance_groups")},
        {
            "allOf": [_given("instance_groups")],
            "not": {"anyOf": [_given("instance_type"), _given("instance_count")]},
        },
    ]
}


def distribution_instance_groups(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    # SDK 2.220 fw_utils.validate_distribution and Framework._distribution_configuration.
    distribution, groups = v["distribution"], v["instance_groups"]
    if distribution is None or (groups is None and data.get("instance_groups") is not None):
        return
    field, named = "estimator.distribution.instance_groups", distribution.instance_groups
    if groups is None:
        if named:
            errors.add(field, list(named), "names instance groups, but the estimator has no instance_groups")
        return
    if len(named) > len(groups):
        errors.add(field, list(named), f"more training groups than the estimator's {len(groups)} groups")
    elif len(groups) > 1 and len(named) != 1:
        errors.add(field, list(named), "with several instance groups, name exactly one that trains")
    elif unknown_names(named, groups):
        errors.add(field, unknown_names(named, groups), "not among the estimator's instance_groups")
    elif distribution.strategy in ("parameter_server", "multi_worker_mirrored_strategy"):
        errors.add(
            f"estimator.distribution.{distribution.strategy}",
            {"enabled": True},
            "not with instance_groups: SageMaker runs heterogeneous clusters with mpi, smdistributed "
            "(or PyTorch's torch_distributed / pytorchddp)",
        )


def training_instance_type(v: Values) -> str | None:
    """The instance type that trains: the spec's, or the training group's with instance_groups."""
    groups, distribution = v["instance_groups"], v["distribution"]
    if groups is None:
        return v["instance_type"]  # type: ignore[no-any-return]
    named = distribution.instance_groups if distribution is not None else ()
    chosen = [g for g in groups if g.name in named] or list(groups)
    return chosen[0].instance_type  # type: ignore[no-any-return]


def smdistributed_instance_types(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    distribution, instance_type = v["distribution"], training_instance_type(v)
    if (
        distribution is not None
        and distribution.strategy == "smdistributed"
        and instance_type is not None
        and instance_type not in SMDDP_INSTANCE_TYPES
    ):
        errors.add(
            "estimator.instance_type",
            instance_type,
            f"smdistributed dataparallel runs only on {', '.join(sorted(SMDDP_INSTANCE_TYPES))}",
        )


def mwms_needs_tf_2_9(v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector) -> None:
    distribution, version = v["distribution"], v["framework_version"]
    if distribution is None or distribution.strategy != "multi_worker_mirrored_strategy":
        return
    if version is None:
        if "framework_version" not in data:
            errors.add(
                "estimator.framework_version",
                None,
                "required with multi_worker_mirrored_strategy (TensorFlow >= 2.9)",
            )
    elif version_tuple(version) < MWMS_MIN_TF_VERSION:
        errors.add(
            "estimator.framework_version", version, "multi_worker_mirrored_strategy needs TensorFlow >= 2.9"
        )


def hyperparameters_fit(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    hyperparameters, instance_type = v["hyperparameters"], v["instance_type"]
    if hyperparameters is None or (instance_type is None and v["instance_groups"] is None):
        return
    added = added_hyperparameter_count(framework, v["distribution"], instance_type, v.get("model_dir"))
    if len(hyperparameters) + added > rules.MAX_HYPERPARAMETERS:
        errors.add(
            "estimator.hyperparameters",
            len(hyperparameters),
            f"too many: at most {rules.MAX_HYPERPARAMETERS - added} here "
            f"({added} more are added for script mode and the distribution)",
        )


def credentials_need_access_mode(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    # SDK 2.220 sends TrainingRepositoryAuthConfig only inside TrainingImageConfig, which it
    # builds only from training_repository_access_mode: alone, the ARN would be dropped.
    arn = v["training_repository_credentials_provider_arn"]
    if arn is not None and v["training_repository_access_mode"] != "Vpc":
        errors.add(
            "estimator.training_repository_credentials_provider_arn",
            arn,
            "needs training_repository_access_mode 'Vpc' (a private registry reached from the VPC)",
        )


def profiler_flags_agree(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    # SDK 2.220 raises "profiler_config.disable_profiler cannot be False when disable_profiler is True".
    config = v["profiler_config"]
    if v["disable_profiler"] and config is not None and not config["DisableProfiler"]:
        errors.add(
            "estimator.profiler_config.disable_profiler",
            False,
            "disable_profiler is true: leave profiler_config out or set its disable_profiler to true",
        )


def code_location_needs_local_code(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    # The SDK uploads only local code; an S3 tarball or baked-in code ignores code_location.
    source = v["source_dir"]
    if v["code_location"] is not None and source is not None and source.startswith("s3://"):
        errors.add(
            "estimator.code_location",
            v["code_location"],
            "source_dir is already in S3: code_location (where local code is uploaded) "
            "has no effect; remove it",
        )


def dependencies_need_local_code(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    # SDK 2.220 tar_and_upload_dir returns an S3 source_dir as is: its dependencies would be
    # dropped without a word. Packaged images without source_dir run their baked code.
    source, image = v["source_dir"], v["image_uri"]
    if v["dependencies"] is None:
        return
    if source is not None and source.startswith("s3://"):
        errors.add(
            "estimator.dependencies",
            v["dependencies"],
            "source_dir is an S3 tarball, which the SDK uses as is: pack the directories into it",
        )
    elif source is None and image in PACKAGED_IMAGES:
        errors.add(
            "estimator.dependencies",
            v["dependencies"],
            f"the {image} image runs its baked code: give a local source_dir to ship dependencies with",
        )


def baked_code_has_the_entry_point(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    # A packaged image without source_dir runs the code baked into it (sagemaker_submit_directory
    # is its code directory): an entry_point it does not hold would fail only once the job runs.
    image, entry_point = v["image_uri"], v["entry_point"]
    if image not in PACKAGED_IMAGES or v["source_dir"] is not None or entry_point is None:
        return
    baked = BAKED_ENTRY_POINTS[image]
    if entry_point not in baked:
        errors.add(
            "estimator.entry_point",
            entry_point,
            f"the {image} image holds only {', '.join(baked)}: give source_dir (a local folder or an "
            "s3:// tarball) to run a script of your own",
        )


def profiler_rules_need_the_profiler(
    v: Values, data: Mapping[str, object], framework: str, errors: ErrorCollector
) -> None:
    # SDK 2.220 _prepare_profiler_for_training: "ProfilerRule cannot be set when disable_profiler is True".
    if v["disable_profiler"] and any(r.kind == "profiler" for r in v.get("rules") or ()):
        errors.add(
            "estimator.rules",
            [r.config["RuleConfigurationName"] for r in v["rules"] if r.kind == "profiler"],
            "profiler rules need the profiler: leave disable_profiler out or drop them",
        )


CROSS_FIELD_RULES: tuple[Rule, ...] = (
    instance_shape,
    distribution_instance_groups,
    dependencies_need_local_code,
    baked_code_has_the_entry_point,
    spot_needs_max_wait,
    vpc_ids_go_together,
    smdistributed_instance_types,
    mwms_needs_tf_2_9,
    hyperparameters_fit,
    credentials_need_access_mode,
    profiler_flags_agree,
    profiler_rules_need_the_profiler,
    code_location_needs_local_code,
)
