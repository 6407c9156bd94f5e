"""Job spec's `deploy` / `transform` blocks -> CreateModel, CreateEndpointConfig, CreateEndpoint,
UpdateEndpoint and CreateTransformJob requests, as SDK 2.220 sends them.

Pure: no AWS calls. Each builder takes the spec, the platform settings (None: nothing filled
in) and the name of the training job whose model.tar.gz is served, and returns the boto3
keyword arguments, checked against botocore's model (dtrain.jobspec.validate_request). The platform's
deploy/transform steps (after Finalize) and `dtrain render` build them here.

SDK sources (2.220): sagemaker.model.Model.deploy / prepare_container_def / _upload_code /
_script_mode_env_vars, sagemaker.pytorch.model.PyTorchModel.prepare_container_def,
sagemaker.tensorflow.model.TensorFlowModel.prepare_container_def, sagemaker.session
(_create_model_request, production_variant, endpoint_from_production_variants,
create_endpoint, _get_transform_request), sagemaker.transformer._TransformJob.

Inference code given as entry_point / source_dir: the SDK repacks the model (downloads
model.tar.gz, adds the code under `code/`, uploads `s3://<bucket>/<key prefix>/model.tar.gz`)
and points the model at the repacked archive. The request here names the same repacked URL
and `model_repack()` says what to put there; the platform's `model` step does the repack after
training (dtrain.orchestration.model_repack; the model does not exist at submit time) from the
code submit uploads under the execution's prefix (dtrain.remote.source_upload).
Names default to the training job's (models, endpoints and transform jobs are separate
namespaces in SageMaker), so a retried step finds what the first attempt created.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector, RequestValidationError, SpecError
from dtrain.jobspec.estimator_rules import version_tuple
from dtrain.jobspec.inference_images import inference_image_uri, processor_for
from dtrain.jobspec.inference_spec import DeploySpec, ModelSpec, TransformSpec
from dtrain.jobspec.naming import job_name_for, prefixed_name
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.service_rules import has_local_storage
from dtrain.jobspec.spec import JobSpec
from dtrain.jobspec.validate_request import enum_values, request_problems
from dtrain.requests.processing_request import default_location
from dtrain.requests.request_paths import s3_path_join
from dtrain.requests.request_tags import merged_tags

VARIANT_NAME = "AllTraffic"  # sagemaker.session.production_variant's default
REPACKED_ARCHIVE = "model.tar.gz"
CODE_IN_MODEL = "/opt/ml/model/code"  # where a model's code is, in the container
DEFAULT_PROGRAM = "inference.py"  # sagemaker_inference.environment.DEFAULT_MODULE_NAME
PYTORCH_MMS_FROM = (1, 2)  # PyTorchModel._LOWEST_MMS_VERSION: repack from here on
# TensorFlowModel.LOG_LEVEL_MAP: container_log_level -> SAGEMAKER_TFS_NGINX_LOGLEVEL.
TFS_LOG_LEVELS = {10: "debug", 20: "info", 30: "warn", 40: "error", 50: "crit"}
_S3_RE = re.compile(r"s3://([^/]+)/?(.*)")


@dataclass(frozen=True)
class ModelRepack:
    """What the SDK's utils.repack_model does, for the platform to do after training.

    `model_data` (the training job's model.tar.gz) plus the inference code (`entry_point`, and
    `source_dir` when given: a local folder that submit uploads to `code_s3_uri`, or an s3://
    tarball) with the code under `code/`, written to `repacked_model_data`.
    """

    model_data: str
    repacked_model_data: str
    entry_point: str
    source_dir: str | None
    code_s3_uri: str | None  # where submit uploads local code (None: source_dir is in S3)
    kms_key: str | None


@dataclass(frozen=True)
class _Model:
    """One model's resolved arguments."""

    spec: ModelSpec
    name: str
    role: str | None
    image: str | None
    framework_version: str | None
    container_log_level: int
    code_location: str | None
    vpc: Mapping[str, list[str]] | None
    network_isolation: bool
    field: str


def _s3_path_join(*parts: str | None) -> str:
    """SDK s3_path_join: no empty parts, no doubled or trailing slashes; keeps the s3:// scheme."""
    return s3_path_join(*(p for p in parts if p))


def _prefixed(name: str, field: str, platform: PlatformSettings | None) -> str:
    """A user-given name under the platform's prefix (the stack's IAM matches on it)."""
    return prefixed_name(field, name, platform.job_name_prefix if platform is not None else "")


def _deploy(spec: JobSpec) -> DeploySpec:
    if spec.deploy is None:
        raise SpecError("deploy", None, "the spec has no deploy block")
    return spec.deploy


def _transform(spec: JobSpec) -> TransformSpec:
    if spec.transform is None:
        raise SpecError("transform", None, "the spec has no transform block")
    return spec.transform


def model_data_url(spec: JobSpec, platform: PlatformSettings | None, training_job_name: str) -> str:
    """The training job's ModelArtifacts.S3ModelArtifacts: <output_path>/<job>/output/model.tar.gz."""
    output_path = spec.estimator.output_path or (platform.output_s3_uri if platform is not None else None)
    if not output_path:
        raise SpecError(
            "estimator.output_path", None, "required without platform settings: where the model is"
        )
    return _s3_path_join(output_path, training_job_name, "output", REPACKED_ARCHIVE)


def _model_of(spec: JobSpec, block: str) -> tuple[ModelSpec, str]:
    """The model a block serves, and the block whose arguments define it."""
    if block == "transform":
        own = _transform(spec).model
        if own is not None:
            return own, "transform"
    if spec.deploy is not None:
        return spec.deploy.model, "deploy"
    return ModelSpec(), block


def model_name_for(
    spec: JobSpec, platform: PlatformSettings | None, training_job_name: str, block: str = "deploy"
) -> str:
    """model_name (under the platform prefix), else the training job's name; a transform block
    with a model of its own beside a deploy block gets a name of its own."""
    model, owner = _model_of(spec, block)
    if model.model_name is not None:
        return _prefixed(model.model_name, f"{owner}.model_name", platform)
    if owner == "transform" and spec.deploy is not None:
        prefix = platform.job_name_prefix if platform is not None else ""
        return job_name_for(training_job_name, execution_name="transform-model", prefix=prefix)
    return training_job_name


def endpoint_name_for(spec: JobSpec, platform: PlatformSettings | None, training_job_name: str) -> str:
    name = _deploy(spec).endpoint_name
    return _prefixed(name, "deploy.endpoint_name", platform) if name is not None else training_job_name


def transform_job_name_for(spec: JobSpec, platform: PlatformSettings | None, training_job_name: str) -> str:
    name = _transform(spec).job_name
    return _prefixed(name, "transform.job_name", platform) if name is not None else training_job_name


def _model_image(
    spec: JobSpec,
    model: ModelSpec,
    owner: str,
    framework_version: str | None,
    instance_type: str | None,
    region: str,
    errors: ErrorCollector,
) -> str | None:
    """The model's image: as given, else the framework's inference image for its version."""
    if model.image_uri is not None:
        return model.image_uri
    if framework_version is None:
        errors.add(f"{owner}.image_uri", None, "required: the estimator has no framework_version")
        return None
    try:
        return inference_image_uri(
            spec.framework,
            framework_version,
            region,
            instance_type,
            model.py_version or spec.estimator.py_version,
            field=owner,
        )
    except SpecError as exc:
        errors.extend([exc])
        return None


def _model_vpc(
    spec: JobSpec, model: ModelSpec, platform: PlatformSettings | None
) -> Mapping[str, list[str]] | None:
    """The model's own VPC config, else the estimator's subnets and groups, else the platform's
    when its jobs run in its VPC (Estimator.create_model)."""
    est = spec.estimator
    if model.vpc_config is not None:
        return {k: list(v) for k, v in model.vpc_config.items()}
    if est.subnets and est.security_group_ids:
        return {"Subnets": list(est.subnets), "SecurityGroupIds": list(est.security_group_ids)}
    if platform is not None and platform.jobs_in_vpc and platform.subnets and platform.security_group_ids:
        return {"Subnets": list(platform.subnets), "SecurityGroupIds": list(platform.security_group_ids)}
    return None


def _resolve_model(
    spec: JobSpec,
    platform: PlatformSettings | None,
    training_job_name: str,
    block: str,
    instance_type: str | None,
    region: str,
    errors: ErrorCollector,
) -> _Model:
    model, owner = _model_of(spec, block)
    est = spec.estimator
    framework_version = model.framework_version or est.framework_version
    image = _model_image(spec, model, owner, framework_version, instance_type, region, errors)
    if (
        spec.framework == "pytorch"
        and model.entry_point is not None
        and framework_version is not None
        and version_tuple(framework_version) < PYTORCH_MMS_FROM
    ):
        errors.add(
            f"{owner}.framework_version",
            framework_version,
            "PyTorch inference before 1.2 (no model server) is not supported",
        )
    role = model.role or est.role or (platform.role_arn if platform is not None else None)
    if not role:
        errors.add(
            f"{owner}.role", None, "required without platform settings: the model's execution role ARN"
        )
    # Estimator.create_model: the estimator's subnets and security groups, unless overridden;
    # else the platform's VPC when jobs run in it. Not for a serverless deploy's model: Serverless
    # Inference takes no VPC configuration and no network isolation ("Feature exclusions",
    # https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html), and parse_deploy
    # refused them given explicitly; the estimator's and platform's VPC are for training.
    serverless = owner == "deploy" and spec.deploy is not None and spec.deploy.serverless is not None
    vpc = None if serverless else _model_vpc(spec, model, platform)
    # Estimator.deploy leaves network isolation to the model's default (off); Estimator.transformer
    # passes the estimator's.
    isolation = model.enable_network_isolation
    if isolation is None or serverless:
        isolation = est.enable_network_isolation if owner == "transform" or spec.deploy is None else False
    return _Model(
        spec=model,
        name=model_name_for(spec, platform, training_job_name, block),
        role=role,
        image=image,
        framework_version=framework_version,
        container_log_level=(
            model.container_log_level if model.container_log_level is not None else est.container_log_level
        ),
        code_location=model.code_location or est.code_location,
        vpc=vpc,
        network_isolation=bool(isolation),
        field=owner,
    )


def _repack_target(m: _Model, platform: PlatformSettings | None, errors: ErrorCollector) -> str | None:
    """Model._upload_code: s3://<code_location bucket or default bucket>/<prefix>/<model>/model.tar.gz."""
    # s3.determine_bucket_and_prefix: code_location's bucket and key as given; else the default
    # bucket under its default prefix (here: the platform's output URI, where the role may write).
    location = m.code_location or default_location(platform)
    match = _S3_RE.fullmatch(location or "")
    bucket, key = (match.group(1), match.group(2)) if match else (None, "")
    if not bucket:
        errors.add(
            f"{m.field}.code_location",
            None,
            "required without platform settings: where the repacked model (with its code) goes",
        )
        return None
    key_prefix = _s3_path_join(key, m.name)
    return f"s3://{bucket}/{key_prefix}/{REPACKED_ARCHIVE}"


def model_repack(
    spec: JobSpec,
    platform: PlatformSettings | None,
    training_job_name: str,
    block: str = "deploy",
    region: str | None = None,
) -> ModelRepack | None:
    """The repack a block's model needs (inference code given), or None (served as trained)."""
    model, _ = _model_of(spec, block)
    if model.entry_point is None:
        return None
    request = build_model_request(
        spec, platform, training_job_name=training_job_name, block=block, region=region
    )
    repacked = request["PrimaryContainer"]["ModelDataUrl"]
    local = model.source_dir is None or not model.source_dir.startswith("s3://")
    return ModelRepack(
        model_data=model_data_url(spec, platform, training_job_name),
        repacked_model_data=repacked,
        entry_point=model.entry_point,
        source_dir=model.source_dir,
        code_s3_uri=repacked.rsplit("/", 1)[0] + "/sourcedir.tar.gz" if local else None,
        kms_key=model.model_kms_key or spec.estimator.output_kms_key,
    )


def _environment(
    m: _Model, spec: JobSpec, platform: PlatformSettings | None, region: str, repacked: bool
) -> dict[str, str]:
    model = m.spec
    env = {**(platform.environment if platform is not None else {}), **(model.env or {})}
    if spec.framework == "tensorflow":
        # TensorFlowModel._get_container_env: only the nginx log level is added.
        if m.container_log_level in TFS_LOG_LEVELS:
            env["SAGEMAKER_TFS_NGINX_LOGLEVEL"] = TFS_LOG_LEVELS[m.container_log_level]
        return env
    # Model._script_mode_env_vars (PyTorchModel always adds them).
    if repacked and model.entry_point is not None:
        program, directory = PurePosixPath(model.entry_point).name, CODE_IN_MODEL
    else:
        # The model serves its own code/inference.py (the bundled trainers put it there). The SDK
        # sends "" for both here, and the inference toolkit then fails: its Environment takes
        # SAGEMAKER_PROGRAM as given and find_spec("") raises (sagemaker_inference/environment.py,
        # transformer.py). dtrain names the toolkit's own defaults instead, as a notebook would
        # with env={"SAGEMAKER_PROGRAM": "inference.py", ...}; a value in env wins.
        program = env.get("SAGEMAKER_PROGRAM", DEFAULT_PROGRAM)
        directory = env.get("SAGEMAKER_SUBMIT_DIRECTORY", CODE_IN_MODEL)
    env.update(
        {
            "SAGEMAKER_PROGRAM": program,
            "SAGEMAKER_SUBMIT_DIRECTORY": directory,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": str(m.container_log_level),
            "SAGEMAKER_REGION": region,
        }
    )
    if model.model_server_workers:
        env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(model.model_server_workers)
    env.update({k: v for k, v in _torchserve_payload_env(spec, m).items() if k not in env})
    return env


# TorchServe refuses a request body over max_request_size (and an answer over max_response_size),
# 6553500 bytes unless configured (pytorch/serve docs/configuration.md); the PyTorch inference
# images read TS_<PROPERTY> variables (sagemaker-pytorch-inference's default-ts.properties sets
# enable_envvars_config=true), and their toolkit does not map SAGEMAKER_MAX_PAYLOAD_IN_MB itself.
TORCHSERVE_SIZE_ENVS = ("TS_MAX_REQUEST_SIZE", "TS_MAX_RESPONSE_SIZE")
TORCHSERVE_DEFAULT_MAX_BYTES = 6553500


def _torchserve_payload_env(spec: JobSpec, m: _Model) -> dict[str, str]:
    """A transform's MaxPayloadInMB (up to 100) as TorchServe's limits, on the model it serves.

    Only where the payload is over TorchServe's default (7 MB and up): the SDK sets nothing, and a
    transform of 100 MB batches would fail with 413 on every one; up to 6 MB the request stays
    the SDK's.
    """
    if spec.transform is None or not spec.transform.max_payload:
        return {}
    if _model_of(spec, "transform")[1] != m.field:
        return {}
    limit = spec.transform.max_payload * 1024 * 1024  # MB as the inference toolkit counts it (MiB)
    if limit <= TORCHSERVE_DEFAULT_MAX_BYTES:
        return {}
    return dict.fromkeys(TORCHSERVE_SIZE_ENVS, str(limit))


def _tags(
    own: tuple[tuple[str, str], ...] | None, spec: JobSpec, platform: PlatformSettings | None
) -> list[dict[str, str]] | None:
    """The block's tags, else the estimator's (Estimator.deploy / transformer), then the platform's."""
    return merged_tags(own if own is not None else spec.estimator.tags, platform)


def _region(platform: PlatformSettings | None, region: str | None) -> str:
    found = region or (platform.region if platform is not None else None)
    if not found:
        raise SpecError("region", None, "required: pass --region or platform settings")
    return found


def _instance_type_for_model(spec: JobSpec, block: str) -> str | None:
    """The instance type the model's image is chosen for (cpu or gpu); None: serverless."""
    _, owner = _model_of(spec, block)
    if owner == "deploy":
        deploy = _deploy(spec)
        return None if deploy.serverless is not None else deploy.instance_type
    return _transform(spec).instance_type


def build_model_request(
    spec: JobSpec,
    platform: PlatformSettings | None,
    *,
    training_job_name: str,
    block: str = "deploy",
    region: str | None = None,
    model_data: str | None = None,
) -> dict[str, Any]:
    """CreateModel for the model a block (`deploy` or `transform`) serves."""
    errors = ErrorCollector()
    where = _region(platform, region)
    m = _resolve_model(
        spec, platform, training_job_name, block, _instance_type_for_model(spec, block), where, errors
    )
    data = model_data or model_data_url(spec, platform, training_job_name)
    repacked: str | None = None
    if m.spec.entry_point is not None:
        repacked = _repack_target(m, platform, errors)
    errors.raise_if_any()
    assert m.image is not None and m.role is not None
    container = {
        "Image": m.image,
        "Environment": _environment(m, spec, platform, where, repacked is not None),
        "ModelDataUrl": repacked or data,
    }
    request: dict[str, Any] = {"ModelName": m.name, "ExecutionRoleArn": m.role, "PrimaryContainer": container}
    own_tags = _deploy(spec).tags if block == "deploy" else _transform(spec).tags
    tags = _tags(own_tags, spec, platform)
    if tags:
        request["Tags"] = tags
    if m.vpc is not None:
        request["VpcConfig"] = dict(m.vpc)
    if m.network_isolation:
        request["EnableNetworkIsolation"] = True
    _validate(request, "CreateModel")
    return request


def build_endpoint_config_request(
    spec: JobSpec,
    platform: PlatformSettings | None,
    *,
    training_job_name: str,
    config_name: str | None = None,
) -> dict[str, Any]:
    """CreateEndpointConfig: one AllTraffic variant. The SDK names the config after the endpoint
    (the default here); updating a live endpoint needs a config of a new name (the model's)."""
    deploy = _deploy(spec)
    errors = ErrorCollector()
    variant: dict[str, Any] = {
        "VariantName": VARIANT_NAME,
        "ModelName": model_name_for(spec, platform, training_job_name, "deploy"),
        "InitialVariantWeight": 1,
    }
    if deploy.serverless is not None:
        serverless: dict[str, Any] = {
            "MemorySizeInMB": deploy.serverless.memory_size_in_mb,
            "MaxConcurrency": deploy.serverless.max_concurrency,
        }
        if deploy.serverless.provisioned_concurrency is not None:
            serverless["ProvisionedConcurrency"] = deploy.serverless.provisioned_concurrency
        variant["ServerlessConfig"] = serverless
    else:
        assert deploy.instance_type is not None
        _check_instance_type(
            deploy.instance_type, "ProductionVariantInstanceType", "deploy.instance_type", errors
        )
        variant["InitialInstanceCount"] = deploy.initial_instance_count or 1
        variant["InstanceType"] = deploy.instance_type
        for key, value in (
            ("VolumeSizeInGB", deploy.volume_size),
            ("ModelDataDownloadTimeoutInSeconds", deploy.model_data_download_timeout),
            ("ContainerStartupHealthCheckTimeoutInSeconds", deploy.container_startup_health_check_timeout),
        ):
            if value is not None:
                variant[key] = value
    errors.raise_if_any()
    name = config_name or endpoint_name_for(spec, platform, training_job_name)
    request: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": [variant]}
    tags = _tags(deploy.tags, spec, platform)
    if tags:
        request["Tags"] = tags
    kms = deploy.kms_key
    # As for training: the platform's volume key is left out where the instance's own storage
    # is encrypted (NVMe instance stores) and for serverless variants, which have no volume.
    if (
        kms is None
        and platform is not None
        and deploy.instance_type is not None
        and deploy.serverless is None
        and not has_local_storage(deploy.instance_type)
    ):
        kms = platform.volume_kms_key_id
    if kms is not None:
        request["KmsKeyId"] = kms
    _validate(request, "CreateEndpointConfig")
    return request


def build_endpoint_request(
    spec: JobSpec,
    platform: PlatformSettings | None,
    *,
    training_job_name: str,
    config_name: str | None = None,
) -> dict[str, Any]:
    """CreateEndpoint (Session.create_endpoint: Tags always sent, [] when there are none)."""
    name = endpoint_name_for(spec, platform, training_job_name)
    request: dict[str, Any] = {
        "EndpointName": name,
        "EndpointConfigName": config_name or name,
        "Tags": _tags(_deploy(spec).tags, spec, platform) or [],
    }
    _validate(request, "CreateEndpoint")
    return request


def build_update_endpoint_request(endpoint_name: str, config_name: str) -> dict[str, Any]:
    """UpdateEndpoint to a new config: SageMaker swaps the fleet with no downtime (blue/green)."""
    request = {"EndpointName": endpoint_name, "EndpointConfigName": config_name}
    _validate(request, "UpdateEndpoint")
    return request


def build_transform_job_request(
    spec: JobSpec,
    platform: PlatformSettings | None,
    *,
    training_job_name: str,
) -> dict[str, Any]:
    """CreateTransformJob: Model.transformer(...) + Transformer.transform(...)."""
    tr = _transform(spec)
    name = transform_job_name_for(spec, platform, training_job_name)
    data, output_path = _settle_transform(spec, platform, tr, name)
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model_name_for(spec, platform, training_job_name, "transform"),
        "TransformInput": _transform_input(tr, data),
        "TransformOutput": _transform_output(tr, platform, output_path),
        "TransformResources": _transform_resources(tr, platform),
    }
    _add_transform_options(request, tr, spec, platform)
    _validate(request, "CreateTransformJob")
    return request


def _settle_transform(
    spec: JobSpec, platform: PlatformSettings | None, tr: TransformSpec, name: str
) -> tuple[str, str]:
    """The input data and output URIs, after every check (all problems in one pass)."""
    errors = ErrorCollector()
    _check_instance_type(tr.instance_type, "TransformInstanceType", "transform.instance_type", errors)
    model, owner = _model_of(spec, "transform")
    if owner == "deploy" and model.image_uri is None:
        # The deploy block's model has the inference image of the deploy's processor (a
        # serverless one is cpu): a transform on the other processor cannot share it (a GPU
        # image on a CPU instance does not start). A model of its own gets its own image.
        shared = processor_for(_instance_type_for_model(spec, "deploy"))
        if processor_for(tr.instance_type) != shared:
            errors.add(
                "transform.instance_type",
                tr.instance_type,
                f"needs a model of its own: the deploy block's model has a {shared} image; "
                "give transform.model_name",
            )
    isolation = model.enable_network_isolation
    if isolation is None and owner != "deploy":
        isolation = spec.estimator.enable_network_isolation
    if isolation and tr.env is not None:
        # Model.transformer drops env under network isolation; refused here, not dropped.
        errors.add("transform.env", dict(tr.env), "not with network isolation (the SDK drops it)")
    data = tr.data
    if not isinstance(data, str):
        if platform is None or platform.data_s3_uri is None:
            errors.add(
                "transform.data", dict(data), "the data bucket comes from platform settings (--platform FILE)"
            )
            data = ""
        else:
            data = _s3_path_join(platform.data_s3_uri, data["path"])
    output_path = tr.output_path
    if output_path is None:
        # Transformer.transform: s3://<default bucket>/<default bucket prefix>/<job name>.
        root = default_location(platform)
        if root is None:
            errors.add("transform.output_path", None, "required without platform settings: an s3:// URI")
        else:
            output_path = _s3_path_join(root, name)
    errors.raise_if_any()
    assert output_path is not None
    return data, output_path


def _transform_input(tr: TransformSpec, data: str) -> dict[str, Any]:
    source: dict[str, Any] = {"S3DataSource": {"S3DataType": tr.data_type, "S3Uri": data}}
    transform_input: dict[str, Any] = {"DataSource": source}
    for key, value in (
        ("ContentType", tr.content_type),
        ("CompressionType", tr.compression_type),
        ("SplitType", tr.split_type),
    ):
        if value is not None:
            transform_input[key] = value
    return transform_input


def _transform_output(
    tr: TransformSpec, platform: PlatformSettings | None, output_path: str
) -> dict[str, Any]:
    output: dict[str, Any] = {"S3OutputPath": output_path}
    output_kms = tr.output_kms_key or (platform.output_kms_key_id if platform is not None else None)
    if output_kms is not None:
        output["KmsKeyId"] = output_kms
    if tr.assemble_with is not None:
        output["AssembleWith"] = tr.assemble_with
    if tr.accept is not None:
        output["Accept"] = tr.accept
    return output


def _transform_resources(tr: TransformSpec, platform: PlatformSettings | None) -> dict[str, Any]:
    resources: dict[str, Any] = {"InstanceCount": tr.instance_count, "InstanceType": tr.instance_type}
    volume_kms = tr.volume_kms_key
    if volume_kms is None and platform is not None and not has_local_storage(tr.instance_type):
        volume_kms = platform.volume_kms_key_id
    if volume_kms is not None:
        resources["VolumeKmsKeyId"] = volume_kms
    return resources


def _add_transform_options(
    request: dict[str, Any], tr: TransformSpec, spec: JobSpec, platform: PlatformSettings | None
) -> None:
    optional: tuple[tuple[str, object], ...] = (
        ("BatchStrategy", tr.strategy),
        ("MaxConcurrentTransforms", tr.max_concurrent_transforms),
        ("MaxPayloadInMB", tr.max_payload),
        ("Environment", dict(tr.env) if tr.env is not None else None),
    )
    for key, item in optional:
        if item is not None:
            request[key] = item
    tags = _tags(tr.tags, spec, platform)
    if tags is not None:
        request["Tags"] = tags
    processing = {
        k: v
        for k, v in (
            ("InputFilter", tr.input_filter),
            ("OutputFilter", tr.output_filter),
            ("JoinSource", tr.join_source),
        )
        if v is not None
    }
    if processing:
        request["DataProcessing"] = processing
    if tr.experiment_config:
        request["ExperimentConfig"] = dict(tr.experiment_config)
    if tr.model_client_config:
        request["ModelClientConfig"] = dict(tr.model_client_config)


def inference_requests(
    spec: JobSpec, platform: PlatformSettings | None, *, training_job_name: str, region: str | None = None
) -> dict[str, dict[str, Any]]:
    """Every request the spec's deploy / transform blocks make, by operation (for `dtrain render`)."""
    out: dict[str, dict[str, Any]] = {}
    if spec.deploy is not None:
        out["CreateModel"] = build_model_request(
            spec, platform, training_job_name=training_job_name, region=region
        )
        out["CreateEndpointConfig"] = build_endpoint_config_request(
            spec, platform, training_job_name=training_job_name
        )
        out["CreateEndpoint"] = build_endpoint_request(spec, platform, training_job_name=training_job_name)
    if spec.transform is not None:
        _, owner = _model_of(spec, "transform")
        if owner != "deploy":
            out["CreateModel (transform)" if spec.deploy is not None else "CreateModel"] = (
                build_model_request(
                    spec, platform, training_job_name=training_job_name, block="transform", region=region
                )
            )
        out["CreateTransformJob"] = build_transform_job_request(
            spec, platform, training_job_name=training_job_name
        )
    return out


def _check_instance_type(instance_type: str, shape: str, field: str, errors: ErrorCollector) -> None:
    allowed = enum_values(shape)
    if allowed and instance_type not in allowed:
        errors.add(
            field, instance_type, f"not a SageMaker {shape}; {rules.did_you_mean(instance_type, allowed)}"
        )


def _validate(request: Mapping[str, Any], operation: str) -> None:
    problems = request_problems(request, operation)
    if problems:
        raise RequestValidationError(problems)
