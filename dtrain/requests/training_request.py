"""Job spec + platform settings -> the CreateTrainingJob request SDK v2 would send.

Pure: no AWS calls. The Submit Lambda, `dtrain render|local|submit` and the tests all
build requests here, so what runs locally is what runs in AWS. Every request passes the
strict model check (dtrain.jobspec.validate_request) before it is returned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.channels import PlatformS3Channel, S3Channel, channel_request, is_file_system_channel
from dtrain.jobspec.debugger_rules import rule_collections, rule_configurations
from dtrain.jobspec.digests import request_spec_digest
from dtrain.jobspec.distribution import distribution_hyperparameters
from dtrain.jobspec.errors import ErrorCollector, SpecError
from dtrain.jobspec.estimator_args import ARGS
from dtrain.jobspec.estimator_rules import version_tuple
from dtrain.jobspec.instance_groups import unknown_names
from dtrain.jobspec.metrics import default_metric_definitions
from dtrain.jobspec.naming import job_name_for, prefixed_name
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.service_rules import has_local_storage
from dtrain.jobspec.spec import JobSpec
from dtrain.jobspec.validate_request import enum_values, validate_create_training_job
from dtrain.requests.processing_request import processing_output_uris
from dtrain.requests.request_paths import s3_path_join
from dtrain.requests.request_tags import merged_tags

# Where the packaged images bake their code (training_code/*/Dockerfile): outside /opt/ml/code,
# which the toolkit fills from sagemaker_submit_directory (this directory, or the user's tarball).
CODE_DIR_IN_IMAGE = "/opt/dtrain/code"
# With network isolation the container cannot fetch its code: SDK v2 passes the tarball as an
# input channel named "code" and points the toolkit at its path in the container.
CODE_CHANNEL = "code"
CODE_CHANNEL_TARBALL = "/opt/ml/input/data/code/sourcedir.tar.gz"
SOURCE_TARBALL = "sourcedir.tar.gz"
MODEL_CHANNEL_CONTENT_TYPE = "application/x-sagemaker-model"  # SDK v2's model_uri channel
# SDK v2 turns on SageMaker metrics time series from these framework versions on.
_METRICS_TIME_SERIES_FROM = {"pytorch": (1, 3), "tensorflow": (1, 15)}
_S3_PREFIX_RE = re.compile(r"s3://([^/]+)/?(.*)")
# SDK 2.220 (sagemaker.fw_utils): regions without SageMaker Debugger / its profiler, where
# the SDK sends no default DebugHookConfig and turns the profiler off.
DEBUGGER_UNSUPPORTED_REGIONS = frozenset(
    {
        "us-iso-east-1",
        "us-isob-east-1",
        "ap-southeast-3",
        "ap-southeast-4",
        "eu-south-2",
        "me-central-1",
        "ap-south-2",
        "eu-central-2",
        "us-gov-east-1",
    }
)


@dataclass(frozen=True)
class LocalCodeUpload:
    """Code the CLI must tar and upload before the request can run (SDK v2's sourcedir.tar.gz).

    `local_path` is a directory (source_dir) or, without source_dir, the entry point file.
    Local mode unpacks nothing: it copies `local_path` into the job's code dir instead.
    """

    local_path: Path
    s3_uri: str


def default_base_job_name(spec: JobSpec) -> str:
    """SDK-like base name: base_job_name, else the image's repository name, else the framework."""
    est = spec.estimator
    if est.base_job_name:
        return est.base_job_name
    if est.packaged_image:
        return est.packaged_image
    repo = est.image_uri.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return repo or spec.framework


def resolve_job_name(spec: JobSpec, platform: PlatformSettings | None, job_name: str | None) -> str:
    """An explicit name as is; the spec's under the platform prefix; else derived from the spec."""
    prefix = platform.job_name_prefix if platform is not None else ""
    if job_name is not None:  # an explicit name (the execution's) as is
        return prefixed_name("job_name", job_name, "")
    if spec.job_name is not None:
        # The stack's IAM lets the platform create only jobs under its prefix.
        return prefixed_name("job_name", spec.job_name, prefix)
    return job_name_for(
        default_base_job_name(spec), execution_name=request_spec_digest(spec.raw), prefix=prefix
    )


def _bucket(uri: str) -> str:
    m = _S3_PREFIX_RE.fullmatch(uri)
    return m.group(1) if m else ""


def code_location(spec: JobSpec, output_path: str, job_name: str) -> str:
    """sagemaker_submit_directory: baked-in code, an S3 tarball as given, or SDK v2's upload key."""
    est = spec.estimator
    if est.code_in_image:
        return CODE_DIR_IN_IMAGE
    if est.source_dir is not None and est.source_dir.startswith("s3://"):
        return est.source_dir
    if est.code_location is not None:
        # SDK 2.220 _stage_user_code_in_s3: the code_location's bucket, then its prefix, the
        # job name and "source" joined by s3_path_join (no doubled slashes).
        return s3_path_join(est.code_location, job_name, "source", SOURCE_TARBALL)
    return f"s3://{_bucket(output_path)}/{job_name}/source/{SOURCE_TARBALL}"


def local_code_upload(spec: JobSpec, request: dict[str, Any]) -> LocalCodeUpload | None:
    """What to upload for a request built from a spec with local code, or None."""
    est = spec.estimator
    if not est.local_source:
        return None
    uri = json.loads(request["HyperParameters"]["sagemaker_submit_directory"])
    if uri == CODE_CHANNEL_TARBALL:
        uri = next(
            c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in request["InputDataConfig"]
            if c["ChannelName"] == CODE_CHANNEL
        )
    if est.source_dir is not None:
        local = spec.local_source_dir()
        assert local is not None
    else:
        base = Path(spec.spec_dir) if spec.spec_dir else Path()
        local = base / est.entry_point
    return LocalCodeUpload(local_path=local, s3_uri=uri)


def _encode(hyperparameters: dict[str, Any]) -> dict[str, str]:
    # json.dumps with its defaults, exactly as SDK v2's _json_encode_hyperparameters.
    return {str(k): json.dumps(v) for k, v in hyperparameters.items()}


def build_training_job_request(
    spec: JobSpec,
    platform: PlatformSettings | None,
    *,
    job_name: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """The CreateTrainingJob kwargs (boto3 shape), or SpecError/SpecErrors naming what is missing.

    Every problem is collected in one pass (`_settle`) before anything is assembled.
    """
    errors = ErrorCollector()
    name = resolve_job_name(spec, platform, job_name)
    settled = _settle(spec, platform, name, region, errors)
    errors.raise_if_any()
    request = _assemble(spec, platform, settled)

    validate_create_training_job(request)
    return request


@dataclass
class _Settled:
    """What the checks settle before the request is assembled (None only while errors are open)."""

    name: str
    region: str | None
    role: str | None
    output_path: str | None
    image: str
    subnets: tuple[str, ...] | None
    security_groups: tuple[str, ...] | None
    input_config: list[dict[str, Any]]
    code_channel: bool
    environment: dict[str, str] | None
    tags: list[dict[str, str]] | None


def _settle(
    spec: JobSpec, platform: PlatformSettings | None, name: str, region: str | None, errors: ErrorCollector
) -> _Settled:
    """Each part of the request the spec and platform decide, with every problem in `errors`."""
    region, role, output_path = _account(spec, platform, region, errors)
    image = _training_image(spec, platform, errors)
    est = spec.estimator
    for i, group in enumerate(est.instance_groups or ()):
        _check_instance_type(group.instance_type, errors, f"estimator.instance_groups[{i}].instance_type")
    if est.instance_groups is None:
        _check_instance_type(est.instance_type, errors)
    _check_channel_groups(spec, errors)
    subnets, security_groups = _vpc(spec, platform, errors)
    input_config, code_channel = _input_channels(spec, platform, errors)
    if est.debugger_hook_config and region in DEBUGGER_UNSUPPORTED_REGIONS:
        errors.add(
            "estimator.debugger_hook_config",
            "{...}",
            f"SageMaker Debugger is not available in {region}: set it to false or leave it out",
        )
    return _Settled(
        name=name,
        region=region,
        role=role,
        output_path=output_path,
        image=image,
        subnets=subnets,
        security_groups=security_groups,
        input_config=input_config,
        code_channel=code_channel,
        environment=_environment(spec, platform, errors),
        tags=_tags(spec, platform, errors),
    )


def _account(
    spec: JobSpec, platform: PlatformSettings | None, region: str | None, errors: ErrorCollector
) -> tuple[str | None, str | None, str | None]:
    """The region, the execution role and the output path: the spec's, else the platform's."""
    est = spec.estimator
    region = region or (platform.region if platform is not None else None)
    if not region:
        errors.add("region", None, "required: pass --region or platform settings")
    role = est.role or (platform.role_arn if platform is not None else None)
    if not role:
        errors.add("estimator.role", None, "required without platform settings: the job's execution role ARN")
    output_path = est.output_path or (platform.output_s3_uri if platform is not None else None)
    if not output_path:
        errors.add(
            "estimator.output_path",
            None,
            "required without platform settings: s3://bucket/prefix for artifacts",
        )
    return region, role, output_path


def _training_image(spec: JobSpec, platform: PlatformSettings | None, errors: ErrorCollector) -> str:
    """The image URI: the spec's, or the platform's for a packaged image's name."""
    est = spec.estimator
    image = est.image_uri
    if est.packaged_image is not None:
        resolved = platform.image_uris.get(est.packaged_image) if platform is not None else None
        if not resolved:
            errors.add(
                "estimator.image_uri",
                est.image_uri,
                "names a packaged image; its URI comes from the platform settings (--platform FILE)",
            )
        image = resolved or image
    if len(image) > rules.MAX_TRAINING_IMAGE:
        errors.add("estimator.image_uri", image, f"longer than {rules.MAX_TRAINING_IMAGE} characters")
    return image


def _vpc(
    spec: JobSpec, platform: PlatformSettings | None, errors: ErrorCollector
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """The spec's own VPC, else the platform's when jobs run in its VPC or a file system needs it."""
    subnets, security_groups = spec.estimator.subnets, spec.estimator.security_group_ids
    needs_vpc = any(is_file_system_channel(c) for c in spec.inputs.values())
    if subnets is None and platform is not None and (platform.jobs_in_vpc or needs_vpc):
        subnets = tuple(platform.subnets) or None
        security_groups = tuple(platform.security_group_ids) or None
    if needs_vpc and (not subnets or not security_groups):
        fs_channels = sorted(n for n, c in spec.inputs.items() if is_file_system_channel(c))
        errors.add(
            f"inputs.{fs_channels[0]}",
            fs_channels,
            "file-system channels need VPC settings: estimator.subnets and security_group_ids, "
            "or platform settings with subnets",
        )
    return subnets, security_groups


def _input_channels(
    spec: JobSpec, platform: PlatformSettings | None, errors: ErrorCollector
) -> tuple[list[dict[str, Any]], bool]:
    """The spec's channels as request channels, and whether the code arrives in a channel too."""
    est = spec.estimator
    input_config: list[dict[str, Any]] = []
    for channel_name, channel in spec.inputs.items():
        try:
            input_config.append(channel_request(channel_name, channel, platform, f"inputs.{channel_name}"))
        except SpecError as exc:
            errors.extend([exc])
    if spec.processing_channels:
        input_config = _with_processing_channels(spec, platform, input_config, errors)
    if est.model_uri is not None and est.model_channel_name in spec.inputs:
        errors.add(
            f"inputs.{est.model_channel_name}",
            est.model_channel_name,
            "model_uri arrives in a channel of this name (model_channel_name); rename one of them",
        )
    code_channel = est.enable_network_isolation and not est.code_in_image
    if code_channel and CODE_CHANNEL in spec.inputs:
        errors.add(
            f"inputs.{CODE_CHANNEL}",
            CODE_CHANNEL,
            "with enable_network_isolation the code arrives in a channel of this name; rename yours",
        )
    added_channels = int(code_channel) + int(est.model_uri is not None)
    if added_channels and len(spec.inputs) + added_channels > rules.MAX_CHANNELS:
        errors.add(
            "inputs",
            len(spec.inputs),
            f"with model_uri / network isolation at most {rules.MAX_CHANNELS - added_channels} channels",
        )
    return input_config, code_channel


def _environment(
    spec: JobSpec, platform: PlatformSettings | None, errors: ErrorCollector
) -> dict[str, str] | None:
    """The platform's environment under the spec's (the spec's wins)."""
    est = spec.estimator
    if est.environment is None and (platform is None or not platform.environment):
        return None
    environment = {**(platform.environment if platform is not None else {}), **(est.environment or {})}
    if len(environment) > rules.MAX_ENVIRONMENT:
        errors.add(
            "estimator.environment",
            len(environment),
            f"with the platform's, more than {rules.MAX_ENVIRONMENT}",
        )
    return environment


def _tags(
    spec: JobSpec, platform: PlatformSettings | None, errors: ErrorCollector
) -> list[dict[str, str]] | None:
    """The estimator's tags merged with the platform's, refused when the merge is too many."""
    tags = merged_tags(spec.estimator.tags, platform)
    if tags is not None and len(tags) > rules.MAX_SPEC_TAGS:
        errors.add(
            "estimator.tags",
            len(tags),
            f"with the platform's tags, more than {rules.MAX_SPEC_TAGS} "
            f"(CreateTrainingJob takes {rules.MAX_TAGS}; "
            f"Submit adds {rules.EXECUTION_TAG_KEY} and {rules.TEAM_TAG_KEY})",
        )
    return tags


def _assemble(spec: JobSpec, platform: PlatformSettings | None, settled: _Settled) -> dict[str, Any]:
    """The request from settled parts, in the order SDK 2.220's _get_train_request adds them."""
    est, name = spec.estimator, settled.name
    region, role, output_path = settled.region, settled.role, settled.output_path
    assert region is not None and role is not None and output_path is not None
    code_uri = code_location(spec, output_path, name)
    input_config = list(settled.input_config)
    if est.model_uri is not None:
        model = S3Channel(s3_data=est.model_uri, input_mode="File", content_type=MODEL_CHANNEL_CONTENT_TYPE)
        input_config.append(channel_request(est.model_channel_name, model, None, "estimator.model_uri"))
    if settled.code_channel:
        input_config.append(channel_request(CODE_CHANNEL, S3Channel(s3_data=code_uri), None, CODE_CHANNEL))
    output_config, resource_config = _output_and_resources(spec, platform, output_path)
    request: dict[str, Any] = {
        "AlgorithmSpecification": _algorithm(spec, settled.image),
        "OutputDataConfig": output_config,
        "TrainingJobName": name,
        "StoppingCondition": {},
        "ResourceConfig": resource_config,
        "RoleArn": role,
    }
    if input_config:
        request["InputDataConfig"] = input_config
    hyperparameters = _hyperparameters(spec, name, region, output_path, code_uri, settled.code_channel)
    request["HyperParameters"] = _encode(hyperparameters)
    if settled.environment is not None:
        request["Environment"] = settled.environment
    if settled.tags is not None:
        request["Tags"] = settled.tags
    if settled.subnets and settled.security_groups:
        request["VpcConfig"] = {
            "Subnets": list(settled.subnets),
            "SecurityGroupIds": list(settled.security_groups),
        }
    checkpoint_uri = _checkpoint(request, spec, platform, name)
    _apply_direct_arguments(request, spec)
    _add_debugging(request, spec, output_path, checkpoint_uri, region)
    return request


def _hyperparameters(
    spec: JobSpec, name: str, region: str, output_path: str, code_uri: str, code_channel: bool
) -> dict[str, Any]:
    """The user's hyperparameters with SDK v2's script-mode and per-strategy keys added."""
    est = spec.estimator
    hyperparameters: dict[str, Any] = dict(est.hyperparameters or {})
    hyperparameters.update(
        {
            "sagemaker_program": Path(est.entry_point).name,
            "sagemaker_submit_directory": CODE_CHANNEL_TARBALL if code_channel else code_uri,
            "sagemaker_container_log_level": est.container_log_level,
            "sagemaker_job_name": name,
            "sagemaker_region": region,
        }
    )
    # With instance groups SDK 2.220's estimator has no instance_type (None).
    hyperparameters.update(
        distribution_hyperparameters(
            est.distribution, est.instance_type if est.instance_groups is None else None
        )
    )
    if spec.framework == "tensorflow" and est.model_dir is not False:
        mpi = est.distribution is not None and est.distribution.uses_mpi
        default_dir = "/opt/ml/model" if mpi else s3_path_join(output_path, name, "model")
        hyperparameters["model_dir"] = est.model_dir or default_dir
    return hyperparameters


def _algorithm(spec: JobSpec, image: str) -> dict[str, Any]:
    """AlgorithmSpecification before the table's direct arguments: the image and the metrics."""
    est = spec.estimator
    algorithm: dict[str, Any] = {"TrainingImage": image}
    if est.metric_definitions is not None:
        algorithm["MetricDefinitions"] = [{"Name": n, "Regex": r} for n, r in est.metric_definitions]
    elif est.packaged_image is not None:
        algorithm["MetricDefinitions"] = default_metric_definitions()
    if est.enable_sagemaker_metrics is not None:
        algorithm["EnableSageMakerMetricsTimeSeries"] = est.enable_sagemaker_metrics
    elif (
        est.framework_version
        and version_tuple(est.framework_version) >= _METRICS_TIME_SERIES_FROM[spec.framework]
    ):
        algorithm["EnableSageMakerMetricsTimeSeries"] = True
    return algorithm


def _output_and_resources(
    spec: JobSpec, platform: PlatformSettings | None, output_path: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """OutputDataConfig and ResourceConfig with the platform's KMS keys (the spec's come later)."""
    output_config: dict[str, Any] = {"S3OutputPath": output_path}
    resource_config: dict[str, Any] = {}
    if platform is not None and platform.output_kms_key_id:
        output_config["KmsKeyId"] = platform.output_kms_key_id
    # SageMaker refuses a volume key for instance types with local NVMe storage (the instance
    # encrypts it): the platform's default is left out there (dtrain.jobspec.service_rules).
    est = spec.estimator
    types = [g.instance_type for g in est.instance_groups or ()] or [est.instance_type]
    if platform is not None and platform.volume_kms_key_id and not any(map(has_local_storage, types)):
        resource_config["VolumeKmsKeyId"] = platform.volume_kms_key_id
    return output_config, resource_config


def _checkpoint(
    request: dict[str, Any], spec: JobSpec, platform: PlatformSettings | None, name: str
) -> str | None:
    """CheckpointConfig: the spec's URI, else the platform's per job; returns the URI."""
    est = spec.estimator
    checkpoint_uri = est.checkpoint_s3_uri
    if checkpoint_uri is None and platform is not None:
        checkpoint_uri = s3_path_join(platform.checkpoint_s3_uri, name)
    if checkpoint_uri is not None:
        checkpoint: dict[str, Any] = {"S3Uri": checkpoint_uri}
        if est.checkpoint_local_path:
            checkpoint["LocalPath"] = est.checkpoint_local_path
        request["CheckpointConfig"] = checkpoint
    return checkpoint_uri


def _apply_direct_arguments(request: dict[str, Any], spec: JobSpec) -> None:
    """Arguments the table maps directly (the spec's value wins over the platform's defaults),
    the instance groups, and the experiment config."""
    est = spec.estimator
    for arg in ARGS:
        if arg.request is not None and arg.refused is None:
            value = getattr(est, arg.name)
            sent = arg.send(value) if value is not None else None
            if sent is not None:
                _set_path(request, arg.request, sent)
    if est.instance_groups is not None:
        # SDK 2.220 _Job._prepare_resource_config: the groups instead of type and count.
        for key in ("InstanceType", "InstanceCount"):
            request["ResourceConfig"].pop(key, None)
        request["ResourceConfig"]["InstanceGroups"] = [g.request() for g in est.instance_groups]
    if spec.experiment_config:
        # SDK 2.220 _get_train_request: sent unchanged when non-empty.
        request["ExperimentConfig"] = dict(spec.experiment_config)


def _add_debugging(
    request: dict[str, Any], spec: JobSpec, output_path: str, checkpoint_uri: str | None, region: str
) -> None:
    """DebugHookConfig, the Debugger / Profiler rules and ProfilerConfig, as SDK 2.220 adds them."""
    _check_debugger_rules_have_a_hook(spec, checkpoint_uri, region)
    hook = debug_hook_config(spec, output_path, checkpoint_uri, region)
    if hook is not None:
        request["DebugHookConfig"] = hook
    if spec.estimator.rules:
        # Debugger / Profiler rules (dtrain.jobspec.debugger_rules): their configurations beside the
        # hook and the profiler, as SDK 2.220's _get_train_request adds them.
        debug_rules, profiler_rules = rule_configurations(spec.estimator.rules, region)
        if debug_rules:
            request["DebugRuleConfigurations"] = debug_rules
        if profiler_rules:
            request["ProfilerRuleConfigurations"] = profiler_rules
    request["ProfilerConfig"] = profiler_config(spec, output_path, region)


def _with_processing_channels(
    spec: JobSpec,
    platform: PlatformSettings | None,
    input_config: list[dict[str, Any]],
    errors: ErrorCollector,
) -> list[dict[str, Any]]:
    """The channels naming a processing output, as S3 channels on its URI, in the spec's order."""
    try:
        uris = processing_output_uris(spec, platform)
    except SpecError as exc:
        errors.extend([exc])
        return input_config
    for channel_name, output in spec.processing_channels.items():
        channel = S3Channel(s3_data=uris[output])
        input_config.append(channel_request(channel_name, channel, None, f"inputs.{channel_name}"))
    order = list(spec.raw.get("inputs") or {})
    return sorted(input_config, key=lambda c: order.index(c["ChannelName"]))


def _set_path(request: dict[str, Any], path: str, value: object) -> None:
    *parents, leaf = path.split(".")
    node = request
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def why_no_debug_hook(spec: JobSpec, checkpoint_uri: str | None) -> str | None:
    """Why SDK 2.220 sends no DebugHookConfig for this job (None: it sends one)."""
    est = spec.estimator
    if est.debugger_hook_config is False:
        return "debugger_hook_config is false"
    # Framework: SMDebug does not support distributed jobs with checkpointing, and the SDK
    # counts any PyTorch/TensorFlow job as distributed (its distribution defaults to {}).
    if checkpoint_uri and est.checkpoint_local_path:
        return "SMDebug does not support checkpointing (checkpoint_local_path) in a framework job"
    # TensorFlow: Debugger does not support parameter-server distribution.
    if est.distribution is not None and est.distribution.strategy == "parameter_server":
        return "Debugger does not support parameter_server distribution"
    return None


def _check_debugger_rules_have_a_hook(spec: JobSpec, checkpoint_uri: str | None, region: str) -> None:
    """Debugger rules with no DebugHookConfig would run over no tensors: a silent no-op.

    "Debugger's built-in rules analyze tensors emitted during the training of a model"
    (https://docs.aws.amazon.com/sagemaker/latest/dg/use-debugger-built-in-rules.html), and
    the hook is what emits them ("activate SageMaker Debugger by specifying the
    debugger_hook_config parameter": https://docs.aws.amazon.com/sagemaker/latest/dg/
    debugger-configure-hook.html). Profiler rules read the profiler's data and need no hook;
    a region without Debugger is refused by rule_configurations.
    """
    names = [r.config["RuleConfigurationName"] for r in spec.estimator.rules or () if r.kind == "debugger"]
    why = why_no_debug_hook(spec, checkpoint_uri)
    if names and why is not None and region not in DEBUGGER_UNSUPPORTED_REGIONS:
        raise SpecError(
            "estimator.rules",
            names,
            f"debugger rules need the debug hook, which this job has not ({why}): drop them or the cause",
        )


def debug_hook_config(
    spec: JobSpec, output_path: str, checkpoint_uri: str | None, region: str
) -> dict[str, Any] | None:
    """DebugHookConfig as SDK 2.220 sends it (EstimatorBase/Framework/TensorFlow
    _validate_and_set_debugger_configs), or None when it sends none."""
    est = spec.estimator
    if region in DEBUGGER_UNSUPPORTED_REGIONS or why_no_debug_hook(spec, checkpoint_uri) is not None:
        return None
    given = est.debugger_hook_config
    hook: dict[str, Any] = dict(given) if isinstance(given, Mapping) else {"CollectionConfigurations": []}
    hook.setdefault("S3OutputPath", output_path)
    # _prepare_collection_configs: the collections the debugger rules need, joined with the
    # hook's (a set in the SDK: equal entries once; its order is hash order and means nothing).
    joined: list[dict[str, Any]] = []
    for entry in [*rule_collections(est.rules), *hook.get("CollectionConfigurations", [])]:
        if entry not in joined:
            joined.append(entry)
    hook["CollectionConfigurations"] = joined
    return hook


def profiler_config(spec: JobSpec, output_path: str, region: str) -> dict[str, Any]:
    """ProfilerConfig as SDK 2.220 sends it (EstimatorBase._prepare_profiler_for_training)."""
    est = spec.estimator
    config = dict(est.profiler_config) if est.profiler_config is not None else None
    if not est.disable_profiler and region not in DEBUGGER_UNSUPPORTED_REGIONS and config is None:
        config = {"DisableProfiler": False}
    if config is None:
        return {"DisableProfiler": True}
    # ProfilerConfig._to_request_dict: the S3 path only for an enabled profiler.
    if config["DisableProfiler"]:
        config.pop("S3OutputPath", None)
    else:
        config.setdefault("S3OutputPath", output_path)
    return config


def _check_channel_groups(spec: JobSpec, errors: ErrorCollector) -> None:
    """A channel's instance_groups (InstanceGroupNames) name groups of the estimator."""
    groups = spec.estimator.instance_groups
    for name, channel in spec.inputs.items():
        options = channel.options if isinstance(channel, PlatformS3Channel) else channel
        named = getattr(options, "instance_groups", None)
        if not named:
            continue
        if groups is None:
            errors.add(f"inputs.{name}.instance_groups", list(named), "the estimator has no instance_groups")
        elif unknown_names(named, groups):
            errors.add(
                f"inputs.{name}.instance_groups",
                unknown_names(named, groups),
                "not among the estimator's instance_groups",
            )


def _check_instance_type(
    instance_type: str, errors: ErrorCollector, field: str = "estimator.instance_type"
) -> None:
    allowed = enum_values("TrainingInstanceType")
    if allowed and instance_type not in allowed:
        errors.add(
            field,
            instance_type,
            f"not a SageMaker training instance type; {rules.did_you_mean(instance_type, allowed)}",
        )
