"""Runs under .venv-sdk (SageMaker Python SDK 2.x): builds CreateTrainingJob requests offline.

stdin: JSON list of {"id", "framework", "kwargs" (estimator kwargs), "inputs", "job_name",
"region", optional "experiment_config"}, a processing configuration (_processing_request),
a deploy / transform configuration (_hosting_requests) or image lookups (_inference_images);
the kwargs debugger_hook_config, profiler_config and tensorboard_output_config, as
objects, become the SDK's config classes built from the same keyword arguments, and
instance_groups InstanceGroup objects (distribution.instance_groups names them); inputs
values are an S3 URI string or {"TrainingInput": {...}} /
{"FileSystemInput": {...}}. stdout: JSON object id -> the request the SDK passed to
`create_training_job` (intercepted: nothing leaves the machine). All configurations are
built in this one process because importing the SDK takes seconds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any


def _telemetry_off() -> None:
    # The SDK reads this config file; TelemetryOptOut stops its usage pings.
    path = os.path.join(tempfile.mkdtemp(), "sagemaker-config.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] = path
    os.environ.setdefault("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", path)


def _validate_each_config_once(sagemaker: Any) -> None:
    """The SDK validates its config (the telemetry opt-out file above) at every config lookup:
    jsonschema.validate checks the whole SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA itself, then the
    config, 682 times in one run of this builder: four fifths of its time (cProfile). The answer
    for one config never changes, so each distinct config is validated once, by the SDK's own
    function; a config it refuses still raises every time."""
    import sagemaker.config.config
    import sagemaker.session

    real = sagemaker.config.config.validate_sagemaker_config
    valid: set[str] = set()

    def validate_once(sagemaker_config: Any = None) -> None:
        key = json.dumps(sagemaker_config, sort_keys=True, default=repr)
        if key not in valid:
            real(sagemaker_config)
            valid.add(key)

    for module in (sagemaker.config.config, sagemaker.session, sagemaker.utils):
        module.validate_sagemaker_config = validate_once


def main() -> int:
    _telemetry_off()
    # The SDK prints notices on stdout; keep stdout for the JSON answer only.
    answer = sys.stdout
    sys.stdout = sys.stderr
    import functools

    import boto3
    import sagemaker
    import sagemaker.estimator
    import sagemaker.utils

    # The SDK parses botocore's endpoints.json (about 0.3 s, more on a loaded machine) for
    # every image lookup and STS endpoint it resolves; the answer never changes in one process.
    sagemaker.utils._botocore_resolver = functools.lru_cache(maxsize=None)(sagemaker.utils._botocore_resolver)
    _validate_each_config_once(sagemaker)
    from sagemaker.debugger import (
        CollectionConfig,
        DebuggerHookConfig,
        ProfilerConfig,
        TensorBoardOutputConfig,
    )
    from sagemaker.fw_utils import UploadedCode
    from sagemaker.inputs import FileSystemInput, TrainingInput
    from sagemaker.instance_group import InstanceGroup
    from sagemaker.pytorch import PyTorch
    from sagemaker.tensorflow import TensorFlow

    real_upload = sagemaker.estimator.tar_and_upload_dir

    def fake_upload(
        session: Any, bucket: str, s3_key_prefix: str, script: str, directory: str | None = None, **kw: Any
    ) -> UploadedCode:
        if directory and directory.lower().startswith("s3://"):
            # The SDK's own function uses an S3 tarball as is, without touching AWS.
            return real_upload(session, bucket, s3_key_prefix, script, directory, **kw)
        # Local code: where the SDK chose to upload (bucket, prefix) is what we compare; the
        # upload itself needs AWS, so the tarball is not written.
        return UploadedCode(
            s3_prefix=f"s3://{bucket}/{s3_key_prefix}/sourcedir.tar.gz", script_name=os.path.basename(script)
        )

    sagemaker.estimator.tar_and_upload_dir = fake_upload

    def sdk_objects(kwargs: dict[str, Any]) -> dict[str, Any]:
        out = dict(kwargs)
        hook = out.get("debugger_hook_config")
        if isinstance(hook, dict):
            collections = [CollectionConfig(**c) for c in hook.get("collection_configs", [])]
            out["debugger_hook_config"] = DebuggerHookConfig(
                **{**hook, "collection_configs": collections or None}
            )
        if isinstance(out.get("profiler_config"), dict):
            out["profiler_config"] = ProfilerConfig(**out["profiler_config"])
        if isinstance(out.get("tensorboard_output_config"), dict):
            out["tensorboard_output_config"] = TensorBoardOutputConfig(**out["tensorboard_output_config"])
        if out.get("rules"):
            out["rules"] = [_sdk_rule(rule) for rule in out["rules"]]
        if out.get("instance_groups"):
            # InstanceGroup objects; distribution names its training groups, the SDK takes objects.
            groups = {g["instance_group_name"]: InstanceGroup(**g) for g in out["instance_groups"]}
            out["instance_groups"] = list(groups.values())
            if "instance_groups" in (out.get("distribution") or {}):
                names = out["distribution"]["instance_groups"]
                out["distribution"] = {**out["distribution"], "instance_groups": [groups[n] for n in names]}
        return out

    configs = json.load(sys.stdin)
    results: dict[str, Any] = {}
    for config in configs:
        if config.get("kind") == "processing":
            results[config["id"]] = _processing_request(config)
            continue
        if config.get("kind") in ("deploy", "transform"):
            results[config["id"]] = _hosting_requests(config)
            continue
        if config.get("kind") == "rules_catalogue":
            results[config["id"]] = _rules_catalogue(config)
            continue
        if config.get("kind") == "inference_images":
            results[config["id"]] = _inference_images(config)
            continue
        boto_session = boto3.Session(
            region_name=config["region"], aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
        )
        session = sagemaker.Session(boto_session=boto_session)
        recorded: list[dict[str, Any]] = []

        def record(recorded: list[dict[str, Any]] = recorded, **request: Any) -> dict[str, Any]:
            recorded.append(request)
            return {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/x"}

        session.sagemaker_client.create_training_job = record  # type: ignore[method-assign]
        cls = PyTorch if config["framework"] == "pytorch" else TensorFlow
        estimator = cls(sagemaker_session=session, **sdk_objects(config["kwargs"]))
        inputs: dict[str, Any] = {}
        for name, value in (config.get("inputs") or {}).items():
            if isinstance(value, str):
                inputs[name] = value
            elif "TrainingInput" in value:
                inputs[name] = TrainingInput(**value["TrainingInput"])
            else:
                inputs[name] = FileSystemInput(**value["FileSystemInput"])
        estimator.fit(
            inputs=inputs or None,
            job_name=config["job_name"],
            wait=False,
            logs=False,
            experiment_config=config.get("experiment_config"),
        )
        results[config["id"]] = recorded[0]
    # The signatures too, so that a new SDK argument fails the surface test (same process).
    import inspect

    from sagemaker.estimator import EstimatorBase, Framework

    results["__signatures__"] = {
        cls.__name__: [n for n in inspect.signature(cls.__init__).parameters if n not in ("self", "kwargs")]
        for cls in (EstimatorBase, Framework, PyTorch, TensorFlow)
    }
    json.dump(results, answer, default=str)
    return 0


def _sdk_rule(rule: dict[str, Any]) -> Any:
    """{"debugger_rule": FUNCTION, ...Rule.sagemaker kwargs} -> Rule.sagemaker(rule_configs.FUNCTION(),
    ...); {"profiler_rule": CLASS, "rule_parameters": {...}, ...} -> ProfilerRule.sagemaker(
    rule_configs.CLASS(**rule_parameters), ...)."""
    from sagemaker.debugger import CollectionConfig, ProfilerRule, Rule, rule_configs

    kwargs = {k: v for k, v in rule.items() if k not in ("debugger_rule", "profiler_rule")}
    if "debugger_rule" in rule:
        if "collections_to_save" in kwargs:
            kwargs["collections_to_save"] = [CollectionConfig(**c) for c in kwargs["collections_to_save"]]
        return Rule.sagemaker(getattr(rule_configs, rule["debugger_rule"])(), **kwargs)
    params = kwargs.pop("rule_parameters", None) or {}
    return ProfilerRule.sagemaker(getattr(rule_configs, rule["profiler_rule"])(**params), **kwargs)


def _rules_catalogue(config: dict[str, Any]) -> dict[str, Any]:
    """{"kind": "rules_catalogue", "regions": [...]}: smdebug-rulesconfig's built-in rules as the
    SDK builds them with no arguments (debugger: name, parameters, collections; profiler: the
    parameters sent), and the rule evaluator image per region (None where the SDK has none)."""
    import inspect

    from sagemaker import image_uris
    from sagemaker.debugger import ProfilerRule, Rule, rule_configs
    from smdebug_rulesconfig.debugger_rules import builtin_rules
    from smdebug_rulesconfig.profiler_rules import rules as profiler_rules

    debugger: dict[str, Any] = {}
    for name, function in inspect.getmembers(builtin_rules, inspect.isfunction):
        if name.startswith("_") or not hasattr(rule_configs, name):
            continue
        rule = Rule.sagemaker(function())
        debugger[name] = {
            "name": rule.name,
            "parameters": rule.rule_parameters,
            "collections": [[c.name, c.parameters] for c in rule.collection_configs],
        }
    profiler: dict[str, Any] = {}
    for name, cls in inspect.getmembers(profiler_rules, inspect.isclass):
        if issubclass(cls, profiler_rules.ProfilerRuleBase) and hasattr(rule_configs, name):
            if cls is profiler_rules.ProfilerRuleBase:
                continue
            profiler[name] = ProfilerRule.sagemaker(cls()).rule_parameters
    images: dict[str, str | None] = {}
    for region in config["regions"]:
        try:
            images[region] = image_uris.retrieve("debugger", region)
        except ValueError:
            images[region] = None
    return {"debugger": debugger, "profiler": profiler, "images": images}


def _processing_request(config: dict[str, Any]) -> dict[str, Any]:
    """{"kind": "processing", "processor": ScriptProcessor kwargs (network_config as an object),
    "run": .run() kwargs (inputs/outputs as ProcessingInput/ProcessingOutput kwargs),
    "default_bucket", "default_bucket_prefix"}: the request passed to create_processing_job (intercepted)."""
    import boto3
    import sagemaker
    from sagemaker import s3
    from sagemaker.network import NetworkConfig
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor

    def fake_upload(local_path: str, desired_s3_uri: str, **kw: Any) -> str:
        # S3Uploader.upload of one file: <desired>/<file name>; the upload itself needs AWS.
        return f"{desired_s3_uri}/{os.path.basename(local_path)}"

    s3.S3Uploader.upload = staticmethod(fake_upload)  # type: ignore[method-assign]
    boto_session = boto3.Session(
        region_name=config["region"], aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )
    session = sagemaker.Session(boto_session=boto_session)
    session._default_bucket = config.get("default_bucket")  # no S3/STS lookups
    session.default_bucket_prefix = config.get("default_bucket_prefix")
    recorded: list[dict[str, Any]] = []

    def record(**request: Any) -> dict[str, Any]:
        recorded.append(request)
        return {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/x"}

    session.sagemaker_client.create_processing_job = record  # type: ignore[method-assign]
    kwargs = dict(config["processor"])
    if isinstance(kwargs.get("network_config"), dict):
        kwargs["network_config"] = NetworkConfig(**kwargs["network_config"])
    processor = ScriptProcessor(sagemaker_session=session, **kwargs)
    run = dict(config["run"])
    run["inputs"] = [ProcessingInput(**i) for i in run.get("inputs") or []] or None
    run["outputs"] = [ProcessingOutput(**o) for o in run.get("outputs") or []] or None
    processor.run(wait=False, logs=False, **run)
    return recorded[0]


def _hosting_requests(config: dict[str, Any]) -> dict[str, Any]:
    """{"kind": "deploy" | "transform", "framework", "region", "default_bucket",
    "default_bucket_prefix", "model":
    PyTorchModel / TensorFlowModel kwargs (vpc_config as a dict), and "deploy": Model.deploy
    kwargs (serverless_inference_config as ServerlessInferenceConfig kwargs), or "transformer":
    Model.transformer kwargs + "transform": Transformer.transform kwargs}: every request the SDK
    passed to the SageMaker client, by operation (all intercepted; the model repack, which
    downloads and uploads, is recorded as its arguments instead)."""
    import inspect

    import boto3
    import sagemaker
    import sagemaker.utils
    from sagemaker.pytorch import PyTorchModel
    from sagemaker.serverless import ServerlessInferenceConfig
    from sagemaker.tensorflow import TensorFlowModel

    recorded: dict[str, Any] = {}

    # (A fake from an earlier configuration carries the real function as __wrapped__, which
    # inspect.signature follows.)
    real_repack = sagemaker.utils.repack_model
    signature = inspect.signature(real_repack)

    def fake_repack(*args: Any, **kwargs: Any) -> None:
        # TensorFlowModel passes its arguments by position, Model by name: record them by name.
        bound = signature.bind(*args, **kwargs).arguments
        recorded["repack"] = {k: v for k, v in bound.items() if k != "sagemaker_session"}

    fake_repack.__wrapped__ = getattr(real_repack, "__wrapped__", real_repack)  # type: ignore[attr-defined]
    sagemaker.utils.repack_model = fake_repack  # type: ignore[assignment]
    boto_session = boto3.Session(
        region_name=config["region"], aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )
    session = sagemaker.Session(boto_session=boto_session)
    session._default_bucket = config.get("default_bucket")  # no S3/STS lookups
    session.default_bucket_prefix = config.get("default_bucket_prefix")

    def recorder(operation: str, answer: dict[str, Any]) -> Any:
        def record(**request: Any) -> dict[str, Any]:
            recorded[operation] = request
            return answer

        return record

    arn = "arn:aws:sagemaker:us-east-1:123456789012:x/y"
    client = session.sagemaker_client
    client.create_model = recorder("CreateModel", {"ModelArn": arn})  # type: ignore[method-assign]
    client.create_endpoint_config = recorder("CreateEndpointConfig", {"EndpointConfigArn": arn})  # type: ignore[method-assign]
    client.create_endpoint = recorder("CreateEndpoint", {"EndpointArn": arn})  # type: ignore[method-assign]
    client.create_transform_job = recorder("CreateTransformJob", {"TransformJobArn": arn})  # type: ignore[method-assign]
    cls = PyTorchModel if config["framework"] == "pytorch" else TensorFlowModel
    model = cls(sagemaker_session=session, **config["model"])
    if config["kind"] == "deploy":
        kwargs = dict(config["deploy"])
        if isinstance(kwargs.get("serverless_inference_config"), dict):
            kwargs["serverless_inference_config"] = ServerlessInferenceConfig(
                **kwargs["serverless_inference_config"]
            )
        model.deploy(wait=False, **kwargs)
    else:
        transformer = model.transformer(**config["transformer"])
        transformer.transform(wait=False, logs=False, **config["transform"])
    return recorded


def _inference_images(config: dict[str, Any]) -> list[str | None]:
    """{"kind": "inference_images", "queries": [[framework, version, region, instance_type or
    None (serverless), py_version or None]]}: image_uris.retrieve's answer for each (None where
    the SDK refuses)."""
    from sagemaker import image_uris
    from sagemaker.serverless import ServerlessInferenceConfig

    out: list[str | None] = []
    for framework, version, region, instance_type, py_version in config["queries"]:
        try:
            out.append(
                image_uris.retrieve(
                    framework,
                    region,
                    version=version,
                    py_version=py_version,
                    instance_type=instance_type,
                    image_scope="inference",
                    serverless_inference_config=ServerlessInferenceConfig()
                    if instance_type is None
                    else None,
                )
            )
        except ValueError:
            out.append(None)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
