"""The `deploy` and `transform` blocks: what SDK v2 does with the trained model, typed and checked.

`deploy` holds the keyword arguments of `estimator.deploy(...)` (which passes the `Model`
arguments on to `create_model`): `PyTorchModel` / `TensorFlowModel` arguments (inference code,
image, env, ...) and `Model.deploy` arguments (instance type and count or a serverless
config, endpoint name, ...), in one flat object as a notebook writes them.

`transform` holds `estimator.transformer(...)` plus `Transformer.transform(...)`: the batch
transform job's resources and output, and the data to run over; the same Model arguments
may be given there for a model of its own, else the deploy block's model is used (or, with
no deploy block, one built from the defaults).

The model is always the training job's model.tar.gz. What the estimator gives is taken as
`Estimator.create_model` takes it (role, framework_version, py_version, container_log_level,
code_location, VPC, tags); two defaults differ on purpose and are documented in docs/jobspec.md:
`image_uri` defaults to the framework's inference DLC (dtrain.jobspec.inference_images), never the
training image (a packaged training image serves nothing), and the inference code defaults
to the model's own `code/inference.py` (the bundled trainers put it there), not the training
script. All problems are reported in one pass, unknown keys with a "did you mean".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.experiment_config import EXPERIMENT_CONFIG, parse_experiment_config
from dtrain.jobspec.values import (
    INT32_MAX,
    Bool,
    DataSource,
    Int,
    Kind,
    Name,
    Obj,
    OneOf,
    OnlyFor,
    S3Uri,
    StrList,
    StrMap,
    Table,
    Tags,
    Text,
)

# Model.__init__'s default (logging.INFO); the estimator's container_log_level wins, as
# Estimator.create_model passes it on.
DEFAULT_CONTAINER_LOG_LEVEL = 20
# ServerlessInferenceConfig's defaults (SDK 2.220 sagemaker/serverless/serverless_inference_config.py).
DEFAULT_SERVERLESS_MEMORY_MB = 2048
DEFAULT_SERVERLESS_MAX_CONCURRENCY = 5
# CreateTransformJob: MaxPayloadInMB, and MaxPayloadInMB * MaxConcurrentTransforms, at most 100 MB.
MAX_PAYLOAD_BUDGET_MB = 100


_TEXT = Text()
_BOOL = Bool()
_NAME = Name()
_S3 = S3Uri()


# botocore's JsonPath: at most 63 characters.
_JSON_PATH = Text(
    63,
    rule="must be a JSONPath of at most 63 characters (e.g. $[1:])",
    allow_empty=True,
    one_rule=True,
    one_line=False,
    description="JSONPath, at most 63 characters",
)


# sagemaker.serverless.ServerlessInferenceConfig (SDK 2.220); bounds: botocore's
# ServerlessMemorySizeInMB (1024-6144), ServerlessMaxConcurrency / ServerlessProvisionedConcurrency
# (1-200). SageMaker takes the memory in 1 GB steps ("Serverless Inference": 1024, 2048, ... 6144).
SERVERLESS_ARGS: dict[str, Kind] = {
    "memory_size_in_mb": OneOf(*range(1024, 6145, 1024)),
    "max_concurrency": Int(1, 200),
    "provisioned_concurrency": Int(1, 200),
}
# What a serverless deploy refuses. botocore ProductionVariant: a serverless variant has no
# instances to size, no volume, no container start-up to time. Serverless Inference "Feature
# exclusions" (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html): no VPC
# configuration, no network isolation (enable_network_isolation: false, the default, passes).
SERVERLESS_EXCLUDED = (
    "instance_type",
    "initial_instance_count",
    "volume_size",
    "model_data_download_timeout",
    "container_startup_health_check_timeout",
    "vpc_config",
    "enable_network_isolation",
)
# vpc_config / vpc_config_override: the SDK's dict, as botocore's VpcConfig (1-5 groups, 1-16 subnets).
VPC_ARGS: dict[str, Kind] = {"Subnets": StrList(16), "SecurityGroupIds": StrList(5)}
# ModelClientConfig (botocore): InvocationsTimeoutInSeconds 1-3600, InvocationsMaxRetries 0-3.
MODEL_CLIENT_ARGS: dict[str, Kind] = {
    "InvocationsTimeoutInSeconds": Int(1, 3600),
    "InvocationsMaxRetries": Int(0, 3),
}

# PyTorchModel / TensorFlowModel / FrameworkModel / Model.__init__ (SDK 2.220): name -> check or
# the reason it is refused. Shared by both blocks (transform: a model of its own).
MODEL_ARGS: dict[str, Kind | str] = {
    "role": _TEXT,
    "entry_point": _TEXT,
    "source_dir": _TEXT,
    "image_uri": _TEXT,
    "framework_version": _TEXT,
    "py_version": _TEXT,
    "model_server_workers": OnlyFor(
        Int(1, INT32_MAX), "pytorch", "PyTorchModel only (TensorFlow Serving has no such setting)"
    ),
    "model_name": _NAME,
    "enable_network_isolation": _BOOL,
    "container_log_level": Int(0, 50),
    "code_location": _S3,
    "model_kms_key": _TEXT,
    "name": "give model_name (Estimator.deploy's name for the model)",
    "model_data": "the model is the training job's model.tar.gz",
    "dependencies": "put extra modules in source_dir (the repacked model's code/ takes it whole)",
    "git_config": "give the inference code as source_dir (a local folder or an s3:// tarball)",
    "image_config": "private-registry images are not supported; push the image to ECR",
    "predictor_cls": "a client-side class; call the endpoint with `dtrain predict`",
    "sagemaker_session": "a client-side object; the platform's session is used",
    "resources": "inference components are not supported; deploy a model-based endpoint",
}
# How long the state machine waits for the endpoint to be InService / the transform job to end
# before it gives up on the step (Reconcile answers a lost event long before). The platform's own
# argument: the SDK's deploy() and transform() wait without a limit (their `wait` is refused
# above). Defaults: endpoint creation takes minutes, so 2 hours; a transform job's request has no
# run limit of its own (CreateTransformJob has no StoppingCondition), so a day, as training's
# default MaxRuntimeInSeconds. At most a year: Step Functions refuses a longer task timeout.
DEFAULT_DEPLOY_WAIT_TIMEOUT_S = 2 * 3600
DEFAULT_TRANSFORM_WAIT_TIMEOUT_S = 24 * 3600
WAIT_TIMEOUT_MAX_S = 365 * 24 * 3600
WAIT_TIMEOUT = Int(60, WAIT_TIMEOUT_MAX_S, why="seconds; Step Functions allows a task at most a year")
# Model.deploy / EstimatorBase.deploy (SDK 2.220).
DEPLOY_ARGS: dict[str, Kind | str] = {
    **MODEL_ARGS,
    "env": StrMap(100),  # botocore EnvironmentMap: at most 100
    "vpc_config": Obj(VPC_ARGS, ("Subnets", "SecurityGroupIds")),
    "initial_instance_count": Int(1, INT32_MAX),
    "instance_type": _TEXT,
    "endpoint_name": _NAME,
    "serverless_inference_config": Obj(SERVERLESS_ARGS),
    "tags": Tags(),
    "kms_key": _TEXT,
    "volume_size": Int(1, 512),
    "model_data_download_timeout": Int(60, 3600),
    "container_startup_health_check_timeout": Int(60, 3600),
    "serializer": "client-side; `dtrain predict` picks the request's content type",
    "deserializer": "client-side; `dtrain predict` picks the response's accept type",
    "accelerator_type": "Elastic Inference is retired (no new customers since April 2023)",
    "wait_timeout": WAIT_TIMEOUT,  # the platform's own (above)
    "wait": "the platform waits for the endpoint's state-change event (at most wait_timeout seconds)",
    "data_capture_config": "data capture is not supported yet",
    "async_inference_config": "asynchronous endpoints are not supported yet",
    "explainer_config": "SageMaker Clarify explainers are not supported",
    "inference_recommendation_id": "Inference Recommender is not supported",
    "accept_eula": "models behind a licence (JumpStart) are not supported",
    "endpoint_logging": "endpoint logs go to CloudWatch",
    "endpoint_type": "inference components are not supported; the endpoint is model-based",
    "managed_instance_scaling": "inference components are not supported",
    "use_compiled_model": "SageMaker Neo compilation is not supported",
    "update_endpoint": "removed in SDK v2; an existing endpoint_name is updated with a new config",
}
# Estimator.transformer + Transformer.transform (SDK 2.220). `env` here is the transform job's.
TRANSFORM_ARGS: dict[str, Kind | str] = {
    **MODEL_ARGS,
    "vpc_config_override": Obj(VPC_ARGS, ("Subnets", "SecurityGroupIds")),
    "instance_count": Int(1, INT32_MAX),
    "instance_type": _TEXT,
    "strategy": OneOf("MultiRecord", "SingleRecord"),
    "assemble_with": OneOf("Line", "None"),
    "output_path": _S3,
    "output_kms_key": _TEXT,
    "accept": _TEXT,
    "env": StrMap(16),  # botocore TransformEnvironmentMap: at most 16
    "max_concurrent_transforms": Int(0, INT32_MAX),
    "max_payload": Int(0, 100),  # SageMaker: MaxPayloadInMB at most 100 (CreateTransformJob)
    "tags": Tags(),
    "volume_kms_key": _TEXT,
    "data": DataSource(),
    "data_type": OneOf("S3Prefix", "ManifestFile", "AugmentedManifestFile"),
    "content_type": _TEXT,
    "compression_type": OneOf("None", "Gzip"),
    "split_type": OneOf("None", "Line", "RecordIO", "TFRecord"),
    "job_name": _NAME,
    "input_filter": _JSON_PATH,
    "output_filter": _JSON_PATH,
    "join_source": OneOf("Input", "None"),
    "experiment_config": EXPERIMENT_CONFIG,
    "model_client_config": Obj(MODEL_CLIENT_ARGS),
    "batch_data_capture_config": "batch data capture is not supported yet",
    "base_transform_job_name": "give job_name, or leave it out for a name derived from the training job",
    "wait_timeout": WAIT_TIMEOUT,  # the platform's own (above)
    "wait": "the platform waits for the transform job's state-change event (at most wait_timeout seconds)",
    "logs": "logs go to CloudWatch",
}
DEPLOY_REQUIRED: tuple[str, ...] = ()  # instance type + count, or a serverless config (checked below)
TRANSFORM_REQUIRED = ("instance_count", "instance_type", "data")
_WAIT_NOTE = (
    "the platform's own: seconds the execution waits for the {what} before it fails the step "
    "(the SDK waits without a limit)"
)
DEPLOY_TABLE = Table(
    "deploy",
    DEPLOY_ARGS,
    DEPLOY_REQUIRED,
    defaults={"wait_timeout": DEFAULT_DEPLOY_WAIT_TIMEOUT_S},
    notes={"wait_timeout": _WAIT_NOTE.format(what="endpoint to be InService")},
)
TRANSFORM_TABLE = Table(
    "transform",
    TRANSFORM_ARGS,
    TRANSFORM_REQUIRED,
    defaults={"wait_timeout": DEFAULT_TRANSFORM_WAIT_TIMEOUT_S},
    notes={"wait_timeout": _WAIT_NOTE.format(what="transform job to end")},
)
NOT_OBJECT = "must be an object of SDK v2 keyword arguments"
# Model arguments that make the transform block build a model of its own.
TRANSFORM_MODEL_ARGS = (
    *(k for k, v in MODEL_ARGS.items() if not isinstance(v, str)),
    "vpc_config_override",
)


@dataclass(frozen=True)
class ModelSpec:
    """`PyTorchModel` / `TensorFlowModel` arguments; None: taken from the estimator (or defaults)."""

    role: str | None = None
    entry_point: str | None = None
    source_dir: str | None = None
    image_uri: str | None = None
    framework_version: str | None = None
    py_version: str | None = None
    model_server_workers: int | None = None
    model_name: str | None = None
    enable_network_isolation: bool | None = None
    container_log_level: int | None = None
    code_location: str | None = None
    model_kms_key: str | None = None
    env: Mapping[str, str] | None = None
    vpc_config: Mapping[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class ServerlessSpec:
    memory_size_in_mb: int = DEFAULT_SERVERLESS_MEMORY_MB
    max_concurrency: int = DEFAULT_SERVERLESS_MAX_CONCURRENCY
    provisioned_concurrency: int | None = None


@dataclass(frozen=True)
class DeploySpec:
    model: ModelSpec
    instance_type: str | None = None
    initial_instance_count: int | None = None
    serverless: ServerlessSpec | None = None
    endpoint_name: str | None = None
    tags: tuple[tuple[str, str], ...] | None = None
    kms_key: str | None = None
    volume_size: int | None = None
    model_data_download_timeout: int | None = None
    container_startup_health_check_timeout: int | None = None


@dataclass(frozen=True)
class TransformSpec:
    # None: the deploy block's model (or, with no deploy block, the defaults' model).
    model: ModelSpec | None
    instance_count: int
    instance_type: str
    data: str | Mapping[str, str]  # an s3:// URI, or {"s3": "data", "path": ...} (the data bucket)
    data_type: str = "S3Prefix"
    strategy: str | None = None
    assemble_with: str | None = None
    output_path: str | None = None
    output_kms_key: str | None = None
    accept: str | None = None
    env: Mapping[str, str] | None = None
    max_concurrent_transforms: int | None = None
    max_payload: int | None = None
    tags: tuple[tuple[str, str], ...] | None = None
    volume_kms_key: str | None = None
    content_type: str | None = None
    compression_type: str | None = None
    split_type: str | None = None
    job_name: str | None = None
    input_filter: str | None = None
    output_filter: str | None = None
    join_source: str | None = None
    experiment_config: Mapping[str, str] | None = None
    model_client_config: Mapping[str, int] | None = None


def _model(got: Mapping[str, Any], vpc_key: str, *, with_env: bool) -> ModelSpec:
    vpc = got.get(vpc_key)
    return ModelSpec(
        role=got.get("role"),
        entry_point=got.get("entry_point"),
        source_dir=got.get("source_dir"),
        image_uri=got.get("image_uri"),
        framework_version=got.get("framework_version"),
        py_version=got.get("py_version"),
        model_server_workers=got.get("model_server_workers"),
        model_name=got.get("model_name"),
        enable_network_isolation=got.get("enable_network_isolation"),
        container_log_level=got.get("container_log_level"),
        code_location=got.get("code_location"),
        model_kms_key=got.get("model_kms_key"),
        env=dict(got["env"]) if with_env and got.get("env") is not None else None,
        vpc_config={k: tuple(v) for k, v in vpc.items()} if vpc is not None else None,
    )


def _check_code(field: str, got: Mapping[str, Any], errors: ErrorCollector) -> None:
    if got.get("source_dir") is not None and got.get("entry_point") is None:
        errors.add(f"{field}.source_dir", got["source_dir"], "needs entry_point (the script inside it)")


def _check_provisioned_concurrency(serverless: Mapping[str, Any], errors: ErrorCollector) -> None:
    # ProductionVariantServerlessConfig, ProvisionedConcurrency: "Should be less than or equal to
    # MaxConcurrency" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/
    # API_ProductionVariantServerlessConfig.html); max_concurrency defaults as the SDK's does.
    provisioned = serverless.get("provisioned_concurrency")
    most = serverless.get("max_concurrency", DEFAULT_SERVERLESS_MAX_CONCURRENCY)
    if provisioned is not None and provisioned > most:
        errors.add(
            "deploy.serverless_inference_config.provisioned_concurrency",
            provisioned,
            f"must be at most max_concurrency ({most})",
        )


def _check_payload_budget(got: Mapping[str, Any], errors: ErrorCollector) -> None:
    # CreateTransformJob MaxPayloadInMB: "If you specify the MaxConcurrentTransforms parameter, the
    # value of (MaxConcurrentTransforms * MaxPayloadInMB) also cannot exceed 100 MB"
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html).
    # Checked when both are given: unset, SageMaker picks them (execution-parameters / defaults).
    payload, concurrent = got.get("max_payload"), got.get("max_concurrent_transforms")
    if payload is not None and concurrent is not None and payload * concurrent > MAX_PAYLOAD_BUDGET_MB:
        errors.add(
            "transform.max_payload",
            payload,
            f"times max_concurrent_transforms ({concurrent}) must be at most {MAX_PAYLOAD_BUDGET_MB} MB",
        )


def parse_deploy(data: object, framework: str, errors: ErrorCollector) -> DeploySpec | None:
    before = len(errors.errors)
    got = DEPLOY_TABLE.read("deploy", data, errors, framework=framework, not_object=NOT_OBJECT)
    if got is None:
        return None
    _check_code("deploy", got, errors)
    serverless_raw = got.get("serverless_inference_config")
    assert isinstance(data, Mapping)  # else _read reported it
    given = set(data)  # present, even when its value was refused above (reported once, there)
    if (
        "serverless_inference_config" not in given
        and not {"instance_type", "initial_instance_count"} <= given
    ):
        # Model.deploy: "Must specify instance type and instance count unless using serverless inference".
        errors.add(
            "deploy",
            sorted(given),
            "needs instance_type and initial_instance_count, or serverless_inference_config",
        )
    if "serverless_inference_config" in given:
        for key in SERVERLESS_EXCLUDED:
            if key in given and not (key == "enable_network_isolation" and data[key] is False):
                errors.add(f"deploy.{key}", data[key], "not with serverless_inference_config")
    if serverless_raw is not None:
        _check_provisioned_concurrency(serverless_raw, errors)
    if len(errors.errors) > before:
        return None
    serverless = ServerlessSpec(**serverless_raw) if serverless_raw is not None else None
    return DeploySpec(
        model=_model(got, "vpc_config", with_env=True),
        instance_type=got.get("instance_type"),
        initial_instance_count=got.get("initial_instance_count"),
        serverless=serverless,
        endpoint_name=got.get("endpoint_name"),
        tags=got.get("tags"),
        kms_key=got.get("kms_key"),
        volume_size=got.get("volume_size"),
        model_data_download_timeout=got.get("model_data_download_timeout"),
        container_startup_health_check_timeout=got.get("container_startup_health_check_timeout"),
    )


def parse_transform(data: object, framework: str, errors: ErrorCollector) -> TransformSpec | None:
    before = len(errors.errors)
    got = TRANSFORM_TABLE.read("transform", data, errors, framework=framework, not_object=NOT_OBJECT)
    if got is None:
        return None
    _check_code("transform", got, errors)
    experiment_config = None
    if got.get("experiment_config") is not None:
        experiment_config = parse_experiment_config(
            "transform.experiment_config", got["experiment_config"], errors
        )
    _check_payload_budget(got, errors)
    if len(errors.errors) > before:
        return None
    own_model = any(key in got for key in TRANSFORM_MODEL_ARGS)
    return TransformSpec(
        model=_model(got, "vpc_config_override", with_env=False) if own_model else None,
        instance_count=got["instance_count"],
        instance_type=got["instance_type"],
        data=got["data"],
        data_type=got.get("data_type", "S3Prefix"),
        strategy=got.get("strategy"),
        assemble_with=got.get("assemble_with"),
        output_path=got.get("output_path"),
        output_kms_key=got.get("output_kms_key"),
        accept=got.get("accept"),
        env=dict(got["env"]) if got.get("env") is not None else None,
        max_concurrent_transforms=got.get("max_concurrent_transforms"),
        max_payload=got.get("max_payload"),
        tags=got.get("tags"),
        volume_kms_key=got.get("volume_kms_key"),
        content_type=got.get("content_type"),
        compression_type=got.get("compression_type"),
        split_type=got.get("split_type"),
        job_name=got.get("job_name"),
        input_filter=got.get("input_filter"),
        output_filter=got.get("output_filter"),
        join_source=got.get("join_source"),
        experiment_config=experiment_config,
        model_client_config=dict(got["model_client_config"]) if got.get("model_client_config") else None,
    )


def check_against_estimator(
    deploy: DeploySpec | None,
    transform: TransformSpec | None,
    framework_version: str | None,
    disable_output_compression: bool,
    errors: ErrorCollector,
) -> None:
    """What the blocks need from the estimator: a model.tar.gz, and a version or an image."""
    for block, spec in (("deploy", deploy), ("transform", transform)):
        if spec is None:
            continue
        if disable_output_compression:
            errors.add(
                f"{block}",
                "estimator.disable_output_compression",
                "a model is served from the training job's model.tar.gz; leave output compressed",
            )
        model = spec.model if spec.model is not None else (deploy.model if deploy is not None else None)
        has_image = model is not None and (model.image_uri or model.framework_version)
        if not has_image and framework_version is None:
            errors.add(
                f"{block}.image_uri",
                None,
                "required when the estimator has no framework_version (the inference image's version)",
            )


def deploy_schema() -> dict[str, Any]:
    out = DEPLOY_TABLE.schema(
        "estimator.deploy(**deploy) after training (SDK 2.220 Model + Model.deploy arguments)"
    )
    out["anyOf"] = [
        {"required": ["instance_type", "initial_instance_count"]},
        {"required": ["serverless_inference_config"]},
    ]
    return out


def transform_schema() -> dict[str, Any]:
    return TRANSFORM_TABLE.schema(
        "estimator.transformer(...).transform(data, ...) after training (SDK 2.220)"
    )
