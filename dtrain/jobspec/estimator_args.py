"""The estimator surface: one entry per keyword argument of SDK 2.220's PyTorch / TensorFlow.

Each entry says how the value is checked (its kind: type and bounds), its default, where it
lands in the CreateTrainingJob request, which frameworks take it, or why it is refused.
Parsing (dtrain.jobspec.spec_estimator), the JSON Schema (dtrain.jobspec.schema), the direct
part of the request mapping (dtrain.requests.training_request), the estimator table of
docs/jobspec-reference.md and the signature test (tests/dtrain/test_estimator_surface.py,
against the SDK's own signatures) all read this table. Cross-field rules live beside it in
dtrain.jobspec.estimator_rules.

Integer bounds are the CreateTrainingJob model's (botocore) where the argument lands in a
request field, else the 32-bit range the service's `Integer` has; a test compares each with
the model. They are copied, not read from the model, so that parsing needs no botocore.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dtrain.jobspec import estimator_values as values
from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.debugger_rules import check_rules, rules_schema
from dtrain.jobspec.distribution import STRATEGIES, distribution_schema, parse_distribution
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.instance_groups import MAX_GROUPS, check_instance_groups, instance_groups_schema
from dtrain.jobspec.values import (
    INT32_MAX,
    INT64_MAX,
    S3_SCHEMA,
    Bool,
    Custom,
    Each,
    Int,
    Kind,
    Name,
    OneOf,
    PerFramework,
    S3Uri,
    Table,
    Tags,
    Text,
)

# Re-exported: tests and the schema read the estimator's kinds from here.
__all__ = ["INT32_MAX", "INT64_MAX", "S3_SCHEMA", "Int", "Kind"]

BOTH: Final = frozenset({"pytorch", "tensorflow"})
TENSORFLOW: Final = frozenset({"tensorflow"})
DEFAULT_MAX_RUN: Final = 24 * 60 * 60  # SDK v2 default
DEFAULT_VOLUME_SIZE: Final = 30  # SDK v2 default, GB
DEFAULT_CONTAINER_LOG_LEVEL: Final = 20  # logging.INFO, SDK v2's default
DEFAULT_MODEL_CHANNEL: Final = "model"
_VERSION_RE = re.compile(r"\d+(\.\d+){0,2}")
_PY_VERSION_RE = re.compile(r"py3\d{0,2}")
# TrainingRepositoryCredentialsProviderArn's model pattern, \p{Alnum} spelled for Python's re.
_LAMBDA_ARN_RE = re.compile(r"arn:[A-Za-z0-9\-]+:lambda:[A-Za-z0-9\-]+:[0-9]{12}:function:.*")


def _some(value: object) -> object:
    return value


def _true_or_omit(value: object) -> object:
    return True if value else None


def _as_list(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Arg:
    """One SDK keyword argument.

    `request` is the dotted request path the value lands at when the mapping is direct
    (`send` encodes it; None from `send` leaves the field out); `lands_in` describes the
    mapping of the others, done by named functions in dtrain.requests.training_request. `refused` is the
    one-line reason (and what to do instead) for an argument with no meaning here.
    """

    name: str
    sdk: str  # the SDK 2.220 class whose __init__ declares it
    kind: Kind | None = None
    default: Any = None
    required: bool = False
    request: str | None = None
    send: Callable[[Any], object] = _some
    lands_in: str = ""
    frameworks: frozenset[str] = BOTH
    refused: str | None = None
    default_factory: Callable[[], Any] | None = field(default=None, compare=False)

    @property
    def where(self) -> str:
        return self.request or self.lands_in

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default


def _id_list(max_items: int) -> Each:
    # VpcConfig.Subnets / SecurityGroupIds: 1-16 / 1-5 ids of at most 32 characters.
    return Each(
        Text(rules.MAX_VPC_ID, rules.VPC_ID_RE),
        max_items,
        f"must be a list of 1 to {max_items} ids (letters, digits, '-'; <= 32 chars)",
        min_items=1,
        description=f"list of 1-{max_items} ids (letters, digits, '-'; at most {rules.MAX_VPC_ID} chars)",
    )


# AlgorithmSpecification.ContainerEntrypoint / ContainerArguments: 1-100 items of <= 256 chars.
_CONTAINER_STRINGS = Each(
    Text(256, allow_empty=True),
    100,
    "must be a list of 1 to 100 one-line strings of <= 256 chars",
    min_items=1,
    description="list of 1-100 one-line strings of at most 256 characters",
)
# CheckpointConfig.LocalPath: at most 4096 characters.
_CHECKPOINT_LOCAL_PATH = Text(
    4096, re.compile(r"/.*"), "must be an absolute path in the container", one_rule=True
)

NO_SESSION = (
    "there is no session in a spec: the region, role and buckets come from the platform "
    "settings (or --region, role, output_path)"
)
NO_GIT = (
    "dtrain does not clone repositories: check the repository out and set source_dir to the "
    "checkout (dtrain submit packages and uploads it)"
)
NO_COMPILER = (
    "SageMaker Training Compiler is retired (no DLC after PyTorch 2.0 / TensorFlow 2.11 has it): "
    "remove compiler_config, use torch.compile in the training script"
)
NOT_YET = "not mapped by dtrain yet: {what}"

ARGS: Final[tuple[Arg, ...]] = (
    # --- what runs -------------------------------------------------------------------------
    Arg(
        "entry_point",
        "Framework",
        values.ENTRY_POINT,
        required=True,
        lands_in="HyperParameters.sagemaker_program",
    ),
    Arg(
        "source_dir",
        "Framework",
        values.SOURCE_DIR,
        lands_in="HyperParameters.sagemaker_submit_directory (s3 tarball, or the local dir uploaded)",
    ),
    Arg(
        "image_uri",
        "Framework",
        values.IMAGE_URI,
        required=True,
        lands_in="AlgorithmSpecification.TrainingImage (packaged names resolved by the platform)",
    ),
    Arg(
        "framework_version",
        "PyTorch/TensorFlow",
        Text(16, _VERSION_RE, "must be a version such as 2.1 or 2.1.0"),
        lands_in="AlgorithmSpecification.EnableSageMakerMetricsTimeSeries default (PT>=1.3, TF>=1.15)",
    ),
    Arg(
        "py_version",
        "PyTorch/TensorFlow",
        Text(8, _PY_VERSION_RE, "must be py3 or py3NN (py310)"),
        lands_in="nothing (image lookup only; dtrain takes image_uri)",
    ),
    Arg(
        "hyperparameters",
        "Framework",
        PerFramework(
            values.check_hyperparameters,
            values.hyperparameters_schema(),
            f"object of name -> JSON value, at most {rules.MAX_HYPERPARAMETERS}; no `sagemaker_` names",
        ),
        default_factory=dict,
        lands_in="HyperParameters (JSON-encoded)",
    ),
    Arg(
        "distribution",
        "PyTorch/TensorFlow",
        PerFramework(
            parse_distribution,
            distribution_schema(),
            f'one strategy ({", ".join(f"`{s}`" for s in STRATEGIES)}): `{{"enabled": true}}`',
        ),
        lands_in="HyperParameters.sagemaker_*_enabled (per strategy)",
    ),
    Arg(
        "container_log_level",
        "Framework",
        # Python logging levels: NOTSET (0) to CRITICAL (50).
        Int(0, 50),
        default=DEFAULT_CONTAINER_LOG_LEVEL,
        lands_in="HyperParameters.sagemaker_container_log_level",
    ),
    Arg(
        "code_location",
        "Framework",
        S3Uri(bucket_name_rule=True),
        lands_in="HyperParameters.sagemaker_submit_directory (upload prefix of local code)",
    ),
    Arg(
        "dependencies",
        "Framework",
        Custom(values.check_dependencies, values.DEPENDENCIES.schema, values.DEPENDENCIES.describe()),
        lands_in="sourcedir.tar.gz: each local directory at the tarball's root, under its own name",
    ),
    Arg("git_config", "Framework", refused=NO_GIT),
    Arg(
        "model_dir",
        "TensorFlow",
        values.MODEL_DIR,
        frameworks=TENSORFLOW,
        lands_in="HyperParameters.model_dir (default output_path/job/model, /opt/ml/model under MPI)",
    ),
    Arg("compiler_config", "PyTorch/TensorFlow", refused=NO_COMPILER),
    Arg(
        "container_entry_point",
        "EstimatorBase",
        _CONTAINER_STRINGS,
        request="AlgorithmSpecification.ContainerEntrypoint",
        send=_as_list,
    ),
    Arg(
        "container_arguments",
        "EstimatorBase",
        _CONTAINER_STRINGS,
        request="AlgorithmSpecification.ContainerArguments",
        send=_as_list,
    ),
    Arg(
        "environment",
        "EstimatorBase",
        values.ENVIRONMENT,
        lands_in="Environment (over the platform's)",
    ),
    Arg(
        "input_mode",
        "EstimatorBase",
        OneOf(*rules.TRAINING_INPUT_MODES),
        default="File",
        request="AlgorithmSpecification.TrainingInputMode",
    ),
    Arg(
        "metric_definitions",
        "EstimatorBase",
        Custom(
            values.check_metric_definitions,
            values.metric_definitions_schema,
            f'list of at most {rules.MAX_METRIC_DEFINITIONS} `{{"Name", "Regex"}}` objects',
        ),
        lands_in="AlgorithmSpecification.MetricDefinitions (packaged images get their trainers')",
    ),
    Arg(
        "enable_sagemaker_metrics",
        "Framework",
        Bool(),
        lands_in="AlgorithmSpecification.EnableSageMakerMetricsTimeSeries",
    ),
    Arg(
        "training_repository_access_mode",
        "EstimatorBase",
        OneOf("Platform", "Vpc"),
        request="AlgorithmSpecification.TrainingImageConfig.TrainingRepositoryAccessMode",
    ),
    Arg(
        "training_repository_credentials_provider_arn",
        "EstimatorBase",
        Text(2048, _LAMBDA_ARN_RE, "must be a Lambda function ARN"),
        request=(
            "AlgorithmSpecification.TrainingImageConfig.TrainingRepositoryAuthConfig."
            "TrainingRepositoryCredentialsProviderArn"
        ),
    ),
    # --- where it runs -----------------------------------------------------------------------
    Arg(
        "role",
        "EstimatorBase",
        Text(
            rules.MAX_ROLE_ARN,
            rules.ROLE_ARN_RE,
            "must be an IAM role ARN (arn:aws:iam::123456789012:role/name)",
        ),
        lands_in="RoleArn (else the platform's)",
    ),
    Arg(
        "instance_type",
        "EstimatorBase",
        Text(64, rules.INSTANCE_TYPE_RE, "must be a SageMaker instance type: ml.<family>.<size>"),
        request="ResourceConfig.InstanceType",  # required without instance_groups (estimator_rules)
    ),
    Arg(
        "instance_count",
        "EstimatorBase",
        Int(1, model="ResourceConfig.InstanceCount"),
        request="ResourceConfig.InstanceCount",  # required without instance_groups (estimator_rules)
    ),
    Arg(
        "instance_groups",
        "EstimatorBase",
        Custom(
            check_instance_groups,
            instance_groups_schema,
            f"list of 1-{MAX_GROUPS} `{{instance_group_name, instance_type, instance_count}}` objects",
        ),
        lands_in="ResourceConfig.InstanceGroups (instead of InstanceType / InstanceCount)",
    ),
    Arg(
        "volume_size",
        "EstimatorBase",
        Int(1, model="ResourceConfig.VolumeSizeInGB"),
        default=DEFAULT_VOLUME_SIZE,
        request="ResourceConfig.VolumeSizeInGB",
    ),
    Arg(
        "volume_kms_key",
        "EstimatorBase",
        Text(rules.MAX_KMS_KEY_ID, rules.KMS_KEY_RE, "must be a KMS key id, alias or ARN"),
        request="ResourceConfig.VolumeKmsKeyId",
    ),
    Arg(
        "keep_alive_period_in_seconds",
        "EstimatorBase",
        Int(0, rules.MAX_KEEP_ALIVE_SECONDS, model="ResourceConfig.KeepAlivePeriodInSeconds"),
        request="ResourceConfig.KeepAlivePeriodInSeconds",
    ),
    Arg(
        "subnets",
        "EstimatorBase",
        _id_list(rules.MAX_SUBNETS),
        lands_in="VpcConfig.Subnets (else the platform's when needed)",
    ),
    Arg(
        "security_group_ids",
        "EstimatorBase",
        _id_list(rules.MAX_SECURITY_GROUPS),
        lands_in="VpcConfig.SecurityGroupIds (else the platform's when needed)",
    ),
    Arg(
        "enable_network_isolation",
        "Framework",
        Bool(),
        default=False,
        request="EnableNetworkIsolation",
        send=_true_or_omit,
    ),
    Arg(
        "encrypt_inter_container_traffic",
        "EstimatorBase",
        Bool(),
        default=False,
        request="EnableInterContainerTrafficEncryption",
        send=_true_or_omit,
    ),
    Arg(
        "enable_infra_check",
        "EstimatorBase",
        Bool(),
        request="InfraCheckConfig.EnableInfraCheck",
    ),
    Arg(
        "enable_remote_debug",
        "EstimatorBase",
        Bool(),
        request="RemoteDebugConfig.EnableRemoteDebug",
    ),
    Arg(
        "enable_session_tag_chaining",
        "EstimatorBase",
        Bool(),
        request="SessionChainingConfig.EnableSessionTagChaining",
    ),
    # --- time, spot, retries, checkpoints ----------------------------------------------------
    Arg(
        "max_run",
        "EstimatorBase",
        Int(1, model="StoppingCondition.MaxRuntimeInSeconds"),
        default=DEFAULT_MAX_RUN,
        request="StoppingCondition.MaxRuntimeInSeconds",
    ),
    Arg(
        "use_spot_instances",
        "EstimatorBase",
        Bool(),
        default=False,
        request="EnableManagedSpotTraining",
        send=_true_or_omit,
    ),
    Arg(
        "max_wait",
        "EstimatorBase",
        Int(1, model="StoppingCondition.MaxWaitTimeInSeconds"),
        request="StoppingCondition.MaxWaitTimeInSeconds",
    ),
    Arg(
        "max_retry_attempts",
        "EstimatorBase",
        Int(rules.MIN_RETRY_ATTEMPTS, rules.MAX_RETRY_ATTEMPTS, model="RetryStrategy.MaximumRetryAttempts"),
        request="RetryStrategy.MaximumRetryAttempts",
    ),
    Arg(
        "checkpoint_s3_uri",
        "Framework",
        S3Uri(bucket_name_rule=True),
        lands_in="CheckpointConfig.S3Uri (else the platform's, per job)",
    ),
    Arg(
        "checkpoint_local_path",
        "Framework",
        _CHECKPOINT_LOCAL_PATH,
        lands_in="CheckpointConfig.LocalPath",
    ),
    # --- outputs -----------------------------------------------------------------------------
    Arg(
        "output_path",
        "EstimatorBase",
        S3Uri(bucket_name_rule=True),
        lands_in="OutputDataConfig.S3OutputPath (else the platform's)",
    ),
    Arg(
        "output_kms_key",
        "EstimatorBase",
        Text(rules.MAX_KMS_KEY_ID, rules.KMS_KEY_RE, "must be a KMS key id, alias or ARN"),
        request="OutputDataConfig.KmsKeyId",
    ),
    Arg(
        "disable_output_compression",
        "EstimatorBase",
        Bool(),
        default=False,
        request="OutputDataConfig.CompressionType",
        send=lambda v: "NONE" if v else None,
    ),
    Arg(
        "base_job_name",
        "EstimatorBase",
        Name(),
        lands_in="TrainingJobName (base of the derived name)",
    ),
    Arg(
        "tags",
        "EstimatorBase",
        Tags(),
        lands_in="Tags (then the platform's)",
    ),
    Arg(
        "model_uri",
        "EstimatorBase",
        S3Uri(bucket_name_rule=True),
        lands_in="InputDataConfig: a File-mode channel named model_channel_name",
    ),
    Arg(
        "model_channel_name",
        "EstimatorBase",
        Text(rules.MAX_CHANNEL_NAME, rules.CHANNEL_NAME_RE, "must match [A-Za-z0-9.-_]+"),
        default=DEFAULT_MODEL_CHANNEL,
        lands_in="InputDataConfig[].ChannelName of the model_uri channel",
    ),
    Arg(
        "tensorboard_output_config",
        "EstimatorBase",
        Custom(
            values.check_tensorboard_output_config,
            values.TENSORBOARD_TABLE.schema,
            "`{s3_output_path, container_local_output_path}` (TensorBoardOutputConfig)",
        ),
        request="TensorBoardOutputConfig",
    ),
    # --- Debugger and profiler ---------------------------------------------------------------
    Arg(
        "debugger_hook_config",
        "EstimatorBase",
        Custom(
            values.check_debugger_hook_config, values.DEBUGGER_HOOK.schema, values.DEBUGGER_HOOK.describe()
        ),
        lands_in="DebugHookConfig (SDK default: S3OutputPath=output_path)",
    ),
    Arg(
        "profiler_config",
        "EstimatorBase",
        Custom(
            values.check_profiler_config,
            values.PROFILER_TABLE.schema,
            "object (`estimator.profiler_config` below)",
        ),
        lands_in="ProfilerConfig",
    ),
    Arg(
        "disable_profiler",
        "EstimatorBase",
        Bool(),
        default=False,
        lands_in="ProfilerConfig.DisableProfiler",
    ),
    Arg(
        "rules",
        "EstimatorBase",
        Custom(check_rules, rules_schema(), "list of Debugger / Profiler rules"),
        lands_in="DebugRuleConfigurations / ProfilerRuleConfigurations (+ the rules' collections in "
        "DebugHookConfig)",
    ),
    Arg("sagemaker_session", "EstimatorBase", refused=NO_SESSION),
)

ARGS_BY_NAME: Final[Mapping[str, Arg]] = {a.name: a for a in ARGS}


def accepted(framework: str) -> tuple[str, ...]:
    """Names this framework's estimator takes and dtrain maps."""
    return tuple(a.name for a in ARGS if a.refused is None and framework in a.frameworks)


def refused(framework: str) -> tuple[str, ...]:
    return tuple(a.name for a in ARGS if a.refused is not None and framework in a.frameworks)


ESTIMATOR_KEYS: Final = tuple(a.name for a in ARGS if a.refused is None)


def _entry(arg: Arg) -> Kind | str:
    """The table's entry: the kind, or the reason it is refused."""
    if arg.refused is not None:
        return arg.refused
    assert arg.kind is not None
    return arg.kind


def _note(arg: Arg) -> str:
    note = f"SDK {arg.sdk}; lands in {arg.where}"
    if arg.frameworks != BOTH:
        note += f"; {'/'.join(sorted(arg.frameworks))} only"
    return note


# The block's table, built from ARGS: what the parser reads and the schema says. A null argument
# is the argument left out (the SDK's x=None); the defaults are the SDK's.
ESTIMATOR_TABLE: Final = Table(
    "estimator",
    {a.name: _entry(a) for a in ARGS},
    required=tuple(a.name for a in ARGS if a.required),
    defaults={a.name: a.default_value() for a in ARGS if a.default_value() not in (None, {})},
    notes={a.name: _note(a) for a in ARGS if a.refused is None},
    nullable=True,
    only={a.name: a.frameworks for a in ARGS if a.frameworks != BOTH},
    only_rule="a {only} argument; not taken by {framework}'s estimator",
)
assert tuple(ESTIMATOR_TABLE.args) == tuple(a.name for a in ARGS)


def read_args(data: Mapping[str, object], framework: str, errors: ErrorCollector) -> dict[str, Any]:
    """Each argument checked by its kind (ESTIMATOR_TABLE); absent (or null) ones take the
    default; one its kind refused is None, for the cross-field rules that follow."""
    got = ESTIMATOR_TABLE.read("estimator", data, errors, framework=framework) or {}
    out: dict[str, Any] = {}
    for arg in ARGS:
        if arg.refused is not None:
            continue
        if arg.name in got:
            out[arg.name] = got[arg.name]
        elif data.get(arg.name) is not None and framework in arg.frameworks:
            out[arg.name] = None  # refused by its kind (reported)
        else:
            out[arg.name] = arg.default_value()
    return out


def markdown_table() -> str:
    """The estimator table of docs/jobspec-reference.md (between its markers): one row per argument.

    dtrain.jobspec.reference writes it there (`python -m dtrain.jobspec.reference`); tests compare.
    """
    rows = [
        "| argument | value | SDK 2.220 class | status | lands in the request / why refused |",
        "|---|---|---|---|---|",
    ]
    for arg in sorted(ARGS, key=lambda a: (a.refused is not None, a.name)):
        value = "" if arg.kind is None else arg.kind.describe()
        if arg.refused is not None:
            status, where = "refused", arg.refused
        else:
            only = "" if arg.frameworks == BOTH else f" ({'/'.join(sorted(arg.frameworks))} only)"
            default = arg.default_value()
            status = "mapped" + only + (f", default `{default!r}`" if default not in (None, {}) else "")
            status += ", required" if arg.required else ""
            where = f"`{arg.where}`" if arg.request else arg.where
        cells = (f"`{arg.name}`", value, arg.sdk, status, where)
        rows.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
