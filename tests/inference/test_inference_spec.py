"""The `deploy` / `transform` blocks: SDK names, refusals with reasons, all errors in one pass,
bounds, the JSON Schema, and the requests' rules beyond the SDK parity cases."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dtrain.jobspec.errors import RequestValidationError, SpecError, SpecErrors
from dtrain.jobspec.inference_images import inference_image_uri
from dtrain.jobspec.inference_spec import DEPLOY_ARGS, MODEL_ARGS, SERVERLESS_ARGS, TRANSFORM_ARGS
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import parse_spec
from dtrain.requests.inference_request import (
    build_endpoint_config_request,
    build_endpoint_request,
    build_model_request,
    build_transform_job_request,
    build_update_endpoint_request,
    inference_requests,
    model_name_for,
    model_repack,
)

ROLE = "arn:aws:iam::123456789012:role/train-role"
JOB = "cifar10-job-1"
ESTIMATOR: dict[str, Any] = {
    "entry_point": "train.py",
    "source_dir": "s3://my-code/project/sourcedir.tar.gz",
    "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-trainer:1.0",
    "framework_version": "2.2.0",
    "py_version": "py310",
    "role": ROLE,
    "output_path": "s3://my-output/jobs",
    "instance_type": "ml.g5.xlarge",
    "instance_count": 1,
}
DEPLOY = {"initial_instance_count": 1, "instance_type": "ml.m5.large"}
TRANSFORM = {"instance_count": 1, "instance_type": "ml.m5.xlarge", "data": "s3://my-data/test"}
PLATFORM = {
    "region": "eu-west-1",
    "role_arn": "arn:aws:iam::210987654321:role/dtrain-job",
    "output_s3_uri": "s3://dtrain-artifacts-210987654321/jobs",
    "checkpoint_s3_uri": "s3://dtrain-checkpoints-210987654321/ckpt",
    "jobs_in_vpc": False,
}


def _spec(framework: str = "pytorch", **blocks: Any) -> dict[str, Any]:
    return {"framework": framework, "estimator": copy.deepcopy(ESTIMATOR), **blocks}


def _errors(doc: dict[str, Any]) -> list[str]:
    with pytest.raises((SpecError, SpecErrors)) as info:
        parse_spec(doc)
    exc = info.value
    return [str(e) for e in exc] if isinstance(exc, SpecErrors) else [str(exc)]


def test_every_problem_of_both_blocks_in_one_pass_with_did_you_mean_and_reasons() -> None:
    doc = _spec(
        deploy={
            **DEPLOY,
            "instance_typo": "ml.m5.large",
            "accelerator_type": "ml.eia2.medium",
            "volume_size": 0,
        },
        transform={**TRANSFORM, "max_payload": 101, "split_type": "line", "wait": True},
    )
    errors = _errors(doc)
    assert any("deploy.instance_typo" in e and "did you mean 'instance_type'" in e for e in errors), errors
    assert any("deploy.accelerator_type" in e and "Elastic Inference is retired" in e for e in errors)
    assert any("deploy.volume_size: 0: must be an integer from 1 to 512" in e for e in errors)
    assert any("transform.max_payload: 101" in e for e in errors)
    assert any("transform.split_type: 'line'" in e and "did you mean 'Line'" in e for e in errors)
    assert any("transform.wait" in e and "state-change event" in e for e in errors)
    assert len(errors) == 6


def test_a_top_level_typo_of_the_block_name_is_refused_with_a_suggestion() -> None:
    errors = _errors({**_spec(), "deplyo": DEPLOY})
    assert any("deplyo" in e and "did you mean 'deploy'" in e for e in errors)


@pytest.mark.parametrize(
    ("block", "key", "value"),
    [
        ("deploy", "initial_instance_count", 2**31),
        ("deploy", "initial_instance_count", 0),
        ("deploy", "initial_instance_count", True),
        ("deploy", "model_server_workers", 2**63),
        ("deploy", "model_data_download_timeout", 59),
        ("deploy", "wait_timeout", 59),
        ("transform", "wait_timeout", 365 * 24 * 3600 + 1),
        ("deploy", "endpoint_name", "bad_name"),
        ("deploy", "endpoint_name", "x" * 64),
        ("transform", "instance_count", 2**31),
        ("transform", "max_concurrent_transforms", -1),
        ("transform", "input_filter", "$" + "x" * 63),
        ("transform", "data", "/local/data"),
        ("transform", "env", {str(i): "v" for i in range(17)}),
    ],
)
def test_bounds_and_patterns_are_refused_naming_the_field(block: str, key: str, value: Any) -> None:
    base = DEPLOY if block == "deploy" else TRANSFORM
    errors = _errors(_spec(**{block: {**base, key: value}}))
    assert len(errors) == 1 and errors[0].startswith(f"{block}.{key}: "), errors


def test_serverless_config_is_checked_and_excludes_instances() -> None:
    errors = _errors(
        _spec(deploy={"serverless_inference_config": {"memory_size_in_mb": 1500, "max_concurent": 2}})
    )
    assert errors == [
        "deploy.serverless_inference_config: {'max_concurent': 2, 'memory_size_in_mb': 1500}: "
        "memory_size_in_mb: must be one of 1024, 2048, 3072, 4096, 5120, 6144"
    ] or any("max_concurent" in e or "memory_size_in_mb" in e for e in errors)
    errors = _errors(_spec(deploy={"serverless_inference_config": {}, "instance_type": "ml.m5.large"}))
    assert errors == ["deploy.instance_type: 'ml.m5.large': not with serverless_inference_config"]
    errors = _errors(_spec(deploy={"instance_type": "ml.m5.large"}))
    assert "needs instance_type and initial_instance_count, or serverless_inference_config" in errors[0]


def test_framework_specific_and_cross_block_rules() -> None:
    errors = _errors({**_spec("tensorflow", deploy={**DEPLOY, "model_server_workers": 2})})
    assert any("deploy.model_server_workers" in e and "PyTorchModel only" in e for e in errors)
    no_version = _spec(deploy=DEPLOY)
    del no_version["estimator"]["framework_version"], no_version["estimator"]["py_version"]
    assert any("deploy.image_uri" in e and "framework_version" in e for e in _errors(no_version))
    uncompressed = _spec(transform=TRANSFORM)
    uncompressed["estimator"]["disable_output_compression"] = True
    assert any(e.startswith("transform:") and "model.tar.gz" in e for e in _errors(uncompressed))
    assert any(
        "transform.data" in e and "required" in e
        for e in _errors(_spec(transform={"instance_count": 1, "instance_type": "ml.m5.xlarge"}))
    )
    assert any(
        "deploy.source_dir" in e and "needs entry_point" in e
        for e in _errors(_spec(deploy={**DEPLOY, "source_dir": "code"}))
    )


def test_the_tables_cover_what_botocore_bounds() -> None:
    from dtrain.jobspec.validate_request import shapes

    s = shapes()
    check = SERVERLESS_ARGS["max_concurrency"]
    hi = s["ServerlessMaxConcurrency"]["max"]
    assert check(hi) is None and check(hi + 1) is not None and check(s["ServerlessMaxConcurrency"]["min"] - 1)
    volume = DEPLOY_ARGS["volume_size"]
    assert callable(volume)
    assert volume(s["ProductionVariantVolumeSizeInGB"]["max"]) is None
    assert volume(s["ProductionVariantVolumeSizeInGB"]["max"] + 1) is not None
    retries = TRANSFORM_ARGS["model_client_config"]
    assert callable(retries)
    assert retries({"InvocationsMaxRetries": s["InvocationsMaxRetries"]["max"] + 1}) is not None
    # Every model argument is in both blocks, refused or checked the same way.
    assert all(DEPLOY_ARGS[k] is v and TRANSFORM_ARGS[k] is v for k, v in MODEL_ARGS.items())


def test_the_json_schema_takes_both_blocks_and_refuses_typos_and_refused_keys() -> None:
    import jsonschema

    from dtrain.jobspec.schema import job_spec_schema

    validator = jsonschema.Draft202012Validator(job_spec_schema())
    doc = _spec(
        deploy={**DEPLOY, "entry_point": "inference.py", "tags": {"team": "vision"}},
        transform={**TRANSFORM, "strategy": "MultiRecord", "experiment_config": {"ExperimentName": "e"}},
    )
    parse_spec(doc)
    assert [e.message for e in validator.iter_errors(doc)] == []
    for bad in (
        {"deploy": {**DEPLOY, "instance_typo": 1}},
        {"deploy": {**DEPLOY, "wait": True}},
        {"deploy": {}},
    ):
        assert not validator.is_valid({**doc, **bad}), bad
    assert validator.is_valid({**doc, "deploy": {"serverless_inference_config": {"memory_size_in_mb": 2048}}})


# --- requests: names, platform values, rules the SDK leaves to SageMaker ---------------------------


def test_names_default_to_the_training_jobs_and_given_names_get_the_platform_prefix() -> None:
    spec = parse_spec(
        _spec(deploy={**DEPLOY, "endpoint_name": "cifar10", "model_name": "dtrain-m"}, transform=TRANSFORM)
    )
    platform = PlatformSettings.from_dict(PLATFORM)
    requests = inference_requests(spec, platform, training_job_name="dtrain-" + JOB)
    assert requests["CreateEndpoint"]["EndpointName"] == "dtrain-cifar10"
    assert requests["CreateModel"]["ModelName"] == "dtrain-m"  # already under the prefix
    # The transform block gives no model arguments: it runs the deploy block's model.
    assert requests["CreateTransformJob"]["ModelName"] == "dtrain-m"
    assert requests["CreateTransformJob"]["TransformJobName"] == "dtrain-" + JOB
    assert requests["CreateTransformJob"]["TransformOutput"]["S3OutputPath"] == (
        f"s3://dtrain-artifacts-210987654321/jobs/dtrain-{JOB}"
    )
    assert set(requests) == {"CreateModel", "CreateEndpointConfig", "CreateEndpoint", "CreateTransformJob"}


def test_a_transform_model_of_its_own_beside_a_deploy_block_gets_its_own_name() -> None:
    transform = {**TRANSFORM, "model_server_workers": 4, "output_path": "s3://my-output/predictions"}
    spec = parse_spec(_spec(deploy=DEPLOY, transform=transform))
    deploy_name = model_name_for(spec, None, JOB, "deploy")
    transform_name = model_name_for(spec, None, JOB, "transform")
    assert deploy_name == JOB and transform_name != JOB
    requests = inference_requests(spec, None, training_job_name=JOB, region="us-east-1")
    assert requests["CreateModel (transform)"]["ModelName"] == transform_name
    assert (
        requests["CreateModel (transform)"]["PrimaryContainer"]["Environment"][
            "SAGEMAKER_MODEL_SERVER_WORKERS"
        ]
        == "4"
    )
    assert requests["CreateTransformJob"]["ModelName"] == transform_name


def test_platform_defaults_role_bucket_and_volume_key_unless_the_instance_has_local_storage() -> None:
    doc = _spec(deploy={**DEPLOY, "instance_type": "ml.g5.xlarge", "entry_point": "inference.py"})
    del doc["estimator"]["role"]
    spec = parse_spec(doc)
    key = "arn:aws:kms:eu-west-1:210987654321:key/volume"
    platform = PlatformSettings.from_dict({**PLATFORM, "volume_kms_key_id": key})
    model = build_model_request(spec, platform, training_job_name=JOB)
    assert model["ExecutionRoleArn"] == PLATFORM["role_arn"]
    assert (
        model["PrimaryContainer"]["ModelDataUrl"]
        == f"s3://dtrain-artifacts-210987654321/jobs/{JOB}/model.tar.gz"
    )
    assert model["PrimaryContainer"]["Image"].endswith("/pytorch-inference:2.2.0-gpu-py310")
    # ml.g5 has NVMe instance storage: SageMaker refuses a KMS key there; ml.m5 takes it.
    assert "KmsKeyId" not in build_endpoint_config_request(spec, platform, training_job_name=JOB)
    ebs = parse_spec({**doc, "deploy": {**DEPLOY, "entry_point": "inference.py"}})
    assert build_endpoint_config_request(ebs, platform, training_job_name=JOB)["KmsKeyId"] == key
    repack = model_repack(ebs, platform, JOB)
    assert repack is not None
    assert repack.model_data == f"s3://my-output/jobs/{JOB}/output/model.tar.gz"
    assert repack.code_s3_uri == f"s3://dtrain-artifacts-210987654321/jobs/{JOB}/sourcedir.tar.gz"


def test_without_platform_settings_missing_values_are_errors_naming_the_field() -> None:
    spec = parse_spec(_spec(deploy={**DEPLOY, "entry_point": "inference.py"}, transform=TRANSFORM))
    with pytest.raises(SpecError, match="region"):
        build_model_request(spec, None, training_job_name=JOB)
    with pytest.raises(
        (SpecError, SpecErrors), match=r"deploy\.code_location: None: required without platform"
    ):
        build_model_request(spec, None, training_job_name=JOB, region="us-east-1")
    with pytest.raises((SpecError, SpecErrors), match=r"transform\.output_path"):
        build_transform_job_request(spec, None, training_job_name=JOB)


def test_transform_env_under_network_isolation_is_refused_not_dropped() -> None:
    spec = parse_spec(
        _spec(
            transform={
                **TRANSFORM,
                "env": {"A": "1"},
                "enable_network_isolation": True,
                "output_path": "s3://o/p",
            }
        )
    )
    with pytest.raises((SpecError, SpecErrors), match=r"transform\.env"):
        build_transform_job_request(spec, None, training_job_name=JOB)


def test_an_instance_type_typo_is_refused_with_a_suggestion_before_any_call() -> None:
    spec = parse_spec(_spec(deploy={**DEPLOY, "instance_type": "ml.m5.larg"}))
    with pytest.raises((SpecError, SpecErrors), match=r"did you mean 'ml\.m5\.large'"):
        build_endpoint_config_request(spec, None, training_job_name=JOB)


def test_update_endpoint_request_passes_the_model_check_and_a_bad_name_does_not() -> None:
    assert build_update_endpoint_request("cifar10", "cifar10-job-2") == {
        "EndpointName": "cifar10",
        "EndpointConfigName": "cifar10-job-2",
    }
    with pytest.raises(RequestValidationError):
        build_update_endpoint_request("bad_name", "x")
    spec = parse_spec(_spec(deploy=DEPLOY))
    assert (
        build_endpoint_request(spec, None, training_job_name=JOB, config_name="cfg-2")["EndpointConfigName"]
        == "cfg-2"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("pytorch", "2.1", "us-east-1", "ml.p3.2xlarge"),
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-gpu-py310",
        ),
        (
            ("pytorch", "1.13.1", "cn-north-1", None),
            "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-inference:1.13.1-cpu-py39",
        ),
        (
            ("tensorflow", "2.12.0", "af-south-1", "ml.c5.xlarge"),
            "626614931356.dkr.ecr.af-south-1.amazonaws.com/tensorflow-inference:2.12.1-cpu",
        ),
    ],
)
def test_inference_images_per_region_version_and_processor(args: tuple[Any, ...], expected: str) -> None:
    assert inference_image_uri(*args) == expected


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("pytorch", "2.3.0", "us-east-1", "ml.m5.large"), "deploy.framework_version"),
        (("pytorch", "2.2", "us-east-1", "ml.c7g.xlarge"), "deploy.instance_type"),
        (("pytorch", "2.2", "us-east-1", "ml.inf2.xlarge"), "deploy.instance_type"),
        (("pytorch", "2.2", "mars-north-1", "ml.m5.large"), "region"),
    ],
)
def test_inference_images_the_sdk_lacks_are_refused_naming_the_field(
    args: tuple[Any, ...], field: str
) -> None:
    with pytest.raises(SpecError) as info:
        inference_image_uri(*args)
    assert info.value.field == field


def test_a_model_serving_its_own_code_names_the_toolkits_defaults_and_env_wins() -> None:
    """Without entry_point SDK 2.220 sends SAGEMAKER_PROGRAM "" (the toolkit's find_spec("") then
    fails); dtrain names code/inference.py, the default the model.tar.gz of the bundled trainers has."""
    spec = parse_spec(_spec(deploy=DEPLOY))
    env = build_model_request(spec, None, training_job_name=JOB, region="us-east-1")["PrimaryContainer"][
        "Environment"
    ]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    own = parse_spec(_spec(deploy={**DEPLOY, "env": {"SAGEMAKER_PROGRAM": "serve.py"}}))
    env = build_model_request(own, None, training_job_name=JOB, region="us-east-1")["PrimaryContainer"][
        "Environment"
    ]
    assert env["SAGEMAKER_PROGRAM"] == "serve.py"
    tf_doc = _spec("tensorflow", deploy=DEPLOY)
    tf_doc["estimator"]["framework_version"] = "2.13"
    tf = parse_spec(tf_doc)
    env = build_model_request(tf, None, training_job_name=JOB, region="us-east-1")["PrimaryContainer"][
        "Environment"
    ]
    assert env == {"SAGEMAKER_TFS_NGINX_LOGLEVEL": "info"}  # TensorFlow Serving finds code/ itself


def test_validate_names_missing_local_inference_code_and_render_prints_every_request(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from dtrain.cli import main

    path = tmp_path / "spec.json"
    deploy = {
        **DEPLOY,
        "entry_point": "serve.py",
        "source_dir": "code",
        "code_location": "s3://my-code/models",
    }
    path.write_text(json.dumps(_spec(deploy=deploy)))
    assert main(["validate", str(path)]) == 2
    assert "deploy.source_dir: 'code': no such directory" in capsys.readouterr().err
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "serve.py").write_text("def model_fn(model_dir):\n    return None\n")
    assert main(["validate", str(path)]) == 0
    capsys.readouterr()
    assert main(["render", str(path), "--region", "us-east-1", "--job-name", JOB]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["CreateTrainingJob", "CreateModel", "CreateEndpointConfig", "CreateEndpoint"]
    assert out["CreateModel"]["ModelName"] == out["CreateTrainingJob"]["TrainingJobName"] == JOB


def test_submit_takes_a_deploy_or_transform_block_and_refuses_what_the_platform_would(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dtrain.remote.spec_check import SpecRejected, check_against_platform

    check_against_platform(_spec(transform=TRANSFORM), None, "job-1")
    # The state machine's Prepare refuses these; submit refuses them before anything trains.
    with pytest.raises(SpecRejected):
        check_against_platform(_spec(transform=TRANSFORM, deploy=DEPLOY), None, "job-1")
    assert "transform: '{...}': one execution either deploys or transforms" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ddp_torchrun_deploy.json", "ddp_torchrun_transform.json"])
def test_the_deploy_examples_load_conform_and_build_every_request(name: str) -> None:
    import json
    from pathlib import Path

    import jsonschema

    from dtrain.jobspec.placeholder import placeholder_platform
    from dtrain.jobspec.schema import job_spec_schema
    from dtrain.jobspec.spec import load_spec

    path = Path(__file__).resolve().parents[2] / "examples" / "deploy" / name
    jsonschema.Draft202012Validator(job_spec_schema()).validate(json.loads(path.read_text()))
    requests = inference_requests(load_spec(path), placeholder_platform(), training_job_name=JOB)
    assert "CreateEndpoint" in requests or "CreateTransformJob" in requests


def test_transform_data_in_the_platforms_data_bucket_resolves_there_and_needs_the_platform() -> None:
    transform = {**TRANSFORM, "data": {"s3": "data", "path": "cifar10/transform"}}
    spec = parse_spec(_spec(transform=transform))
    platform = PlatformSettings.from_dict({**PLATFORM, "data_s3_uri": "s3://dtrain-data-210987654321"})
    request = build_transform_job_request(spec, platform, training_job_name=JOB)
    assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://dtrain-data-210987654321/cifar10/transform"
    )
    with pytest.raises((SpecError, SpecErrors), match=r"transform\.data"):
        build_transform_job_request(spec, PlatformSettings.from_dict(PLATFORM), training_job_name=JOB)
    assert any("transform.data" in e for e in _errors(_spec(transform={**TRANSFORM, "data": {"s3": "data"}})))


def test_a_model_served_as_trained_needs_no_repack_and_s3_code_no_upload() -> None:
    platform = PlatformSettings.from_dict(PLATFORM)
    assert model_repack(parse_spec(_spec(deploy=DEPLOY)), platform, JOB) is None
    s3_code = {**DEPLOY, "entry_point": "serve.py", "source_dir": "s3://my-code/serve.tar.gz"}
    repack = model_repack(parse_spec(_spec(deploy=s3_code)), platform, JOB)
    assert (
        repack is not None and repack.code_s3_uri is None and repack.source_dir == "s3://my-code/serve.tar.gz"
    )


def test_transform_payload_times_concurrency_is_at_most_100_mb() -> None:
    # CreateTransformJob MaxPayloadInMB: MaxConcurrentTransforms * MaxPayloadInMB <= 100 MB.
    errors = _errors(_spec(transform={**TRANSFORM, "max_payload": 30, "max_concurrent_transforms": 4}))
    assert len(errors) == 1 and errors[0].startswith("transform.max_payload: 30: "), errors
    assert "max_concurrent_transforms (4)" in errors[0] and "100 MB" in errors[0]
    for fits in (
        {"max_payload": 25, "max_concurrent_transforms": 4},
        {"max_payload": 0, "max_concurrent_transforms": 9},
    ):
        parse_spec(_spec(transform={**TRANSFORM, **fits}))


def test_serverless_provisioned_concurrency_is_at_most_max_concurrency() -> None:
    # ProductionVariantServerlessConfig: ProvisionedConcurrency <= MaxConcurrency.
    config = {"max_concurrency": 2, "provisioned_concurrency": 3}
    errors = _errors(_spec(deploy={"serverless_inference_config": config}))
    assert errors == [
        "deploy.serverless_inference_config.provisioned_concurrency: 3: must be at most max_concurrency (2)"
    ], errors
    # max_concurrency defaults to 5 (ServerlessInferenceConfig): 6 provisioned exceeds it.
    errors = _errors(_spec(deploy={"serverless_inference_config": {"provisioned_concurrency": 6}}))
    assert errors == [
        "deploy.serverless_inference_config.provisioned_concurrency: 6: must be at most max_concurrency (5)"
    ], errors
    parse_spec(
        _spec(deploy={"serverless_inference_config": {"max_concurrency": 3, "provisioned_concurrency": 3}})
    )


SERVERLESS = {"serverless_inference_config": {"memory_size_in_mb": 2048}}


def test_a_serverless_deploy_refuses_vpc_isolation_and_instance_timeouts() -> None:
    # Serverless Inference "Feature exclusions": no VPC configuration, no network isolation; a
    # serverless variant has no container start-up to time (as volume_size).
    deploy = {
        **SERVERLESS,
        "vpc_config": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        "enable_network_isolation": True,
        "container_startup_health_check_timeout": 600,
    }
    errors = _errors(_spec(deploy=deploy))
    assert sorted(e.split(":")[0] for e in errors) == [
        "deploy.container_startup_health_check_timeout",
        "deploy.enable_network_isolation",
        "deploy.vpc_config",
    ], errors
    assert all("not with serverless_inference_config" in e for e in errors)


def test_a_serverless_model_gets_neither_the_estimators_nor_the_platforms_vpc() -> None:
    doc = _spec(deploy=SERVERLESS)
    doc["estimator"].update(subnets=["subnet-1"], security_group_ids=["sg-1"])
    platform = PlatformSettings.from_dict(
        {**PLATFORM, "jobs_in_vpc": True, "subnets": ["subnet-p"], "security_group_ids": ["sg-p"]}
    )
    for settings in (None, platform):
        model = build_model_request(parse_spec(doc), settings, training_job_name=JOB, region="eu-west-1")
        assert "VpcConfig" not in model and "EnableNetworkIsolation" not in model
    # An instance-backed deploy keeps the estimator's VPC, as Estimator.create_model passes it.
    doc = _spec(deploy=DEPLOY)
    doc["estimator"].update(subnets=["subnet-1"], security_group_ids=["sg-1"])
    model = build_model_request(parse_spec(doc), platform, training_job_name=JOB)
    assert model["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}


BATCH = {**TRANSFORM, "output_path": "s3://my-output/predictions"}


def test_a_transform_sharing_the_deploy_model_on_another_processor_is_refused() -> None:
    # The deploy block's model has a GPU image (ml.g5): a CPU transform cannot run it.
    spec = parse_spec(_spec(deploy={**DEPLOY, "instance_type": "ml.g5.xlarge"}, transform=BATCH))
    with pytest.raises((SpecError, SpecErrors)) as info:
        inference_requests(spec, None, training_job_name=JOB, region="us-east-1")
    assert str(info.value).startswith("transform.instance_type: 'ml.m5.xlarge': needs a model of its own"), (
        info
    )
    assert "give transform.model_name" in str(info.value)
    # A serverless deploy's model is a CPU one: a GPU transform refuses it too.
    spec = parse_spec(_spec(deploy=SERVERLESS, transform={**BATCH, "instance_type": "ml.g5.xlarge"}))
    with pytest.raises((SpecError, SpecErrors), match=r"transform\.instance_type"):
        build_transform_job_request(spec, None, training_job_name=JOB)
    # A model of its own (any model argument) takes the transform's processor.
    own = {**BATCH, "model_name": "batch"}
    spec = parse_spec(_spec(deploy={**DEPLOY, "instance_type": "ml.g5.xlarge"}, transform=own))
    requests = inference_requests(spec, None, training_job_name=JOB, region="us-east-1")
    assert requests["CreateModel (transform)"]["PrimaryContainer"]["Image"].endswith("-cpu-py310")
    # The same processor shares the model; so does an image given explicitly.
    inference_requests(
        parse_spec(_spec(deploy=DEPLOY, transform=BATCH)), None, training_job_name=JOB, region="us-east-1"
    )
    image = {
        **DEPLOY,
        "instance_type": "ml.g5.xlarge",
        "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/any:1",
    }
    inference_requests(
        parse_spec(_spec(deploy=image, transform=BATCH)), None, training_job_name=JOB, region="us-east-1"
    )


@pytest.mark.parametrize(
    ("block", "base", "default"), [("deploy", DEPLOY, 7200), ("transform", TRANSFORM, 86400)]
)
def test_the_wait_timeout_is_the_hosting_steps_timeout_within_step_functions_year(
    block: str, base: dict[str, Any], default: int
) -> None:
    """`wait_timeout` (the platform's own; the SDK waits without a limit) becomes the plan's hosting
    timeout, which the Deploy/Transform task takes as its TimeoutSeconds; left out, the defaults
    the state machine always had. Out of bounds: refused with the bounds and why."""
    from dtrain.orchestration.execution_plan import hosting_entry

    assert hosting_entry(_spec(**{block: base}), is_sweep=False)["timeout_seconds"] == default
    spec = _spec(**{block: {**base, "wait_timeout": 900}})
    parse_spec(spec)
    assert hosting_entry(spec, is_sweep=False)["timeout_seconds"] == 900
    [error] = _errors(_spec(**{block: {**base, "wait_timeout": 30}}))
    assert error == (
        f"{block}.wait_timeout: 30: must be an integer from 60 to 31536000 "
        "(seconds; Step Functions allows a task at most a year)"
    ), error
