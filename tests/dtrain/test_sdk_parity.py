"""SDK parity: our request equals what SageMaker Python SDK 2.220 sends for the same arguments.

All SDK requests are built in one subprocess of .venv-sdk (tests/dtrain/sdk_parity_builder.py)
with create_training_job intercepted; nothing reaches AWS. Every row of docs/jobspec.md's
distribution table is covered, plus spot/checkpoints/warm pool, every channel shape, local
code, platform-filled values and every argument of dtrain.jobspec.estimator_args that the SDK maps
(KMS keys, model channel, code location, debugger and profiler configs, ...). Every field of
the request is compared, ProfilerConfig, DebugHookConfig and the Debugger / Profiler rule
configurations included (the hook's CollectionConfigurations as a set: the SDK builds them from
one, so their order is hash order and carries no meaning).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dtrain.jobspec.estimator_args import ARGS
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import parse_spec
from dtrain.requests.training_request import build_training_job_request

REPO = Path(__file__).resolve().parents[2]
SDK_PYTHON = REPO / ".venv-sdk" / "bin" / "python"
BUILDER = Path(__file__).with_name("sdk_parity_builder.py")

ROLE = "arn:aws:iam::123456789012:role/train-role"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-trainer:1.0"
HYPERPARAMETERS = {
    "epochs": 10,
    "model": "resnet50",
    "lr": 0.1,
    "nesterov": True,
    "milestones": [30, 60],
    "schedule": {"kind": "cosine", "warmup": 5},
    "note": None,
    "unicode": "héllo",
}


def _estimator(**overrides: Any) -> dict[str, Any]:
    est: dict[str, Any] = {
        "entry_point": "train.py",
        "source_dir": "s3://my-code/project/sourcedir.tar.gz",
        "image_uri": IMAGE,
        "framework_version": "2.2.0",
        "py_version": "py310",
        "role": ROLE,
        "output_path": "s3://my-output/jobs",
        "instance_type": "ml.g5.12xlarge",
        "instance_count": 2,
        "hyperparameters": dict(HYPERPARAMETERS),
    }
    est.update(overrides)
    return {k: v for k, v in est.items() if v is not None}


def _tf(**overrides: Any) -> dict[str, Any]:
    return _estimator(framework_version="2.13", **overrides)


S3_CHANNELS = {"train": "s3://my-data/cifar10/train", "test": "s3://my-data/cifar10/test"}
RICH_CHANNELS: dict[str, Any] = {
    "train": {
        "s3_data": "s3://my-data/manifests/train.manifest",
        "s3_data_type": "ManifestFile",
        "distribution": "ShardedByS3Key",
        "input_mode": "Pipe",
        "content_type": "application/x-recordio",
        "compression": "Gzip",
        "record_wrapping": "RecordIO",
    },
    "aug": {
        "s3_data": "s3://my-data/aug.manifest",
        "s3_data_type": "AugmentedManifestFile",
        "attribute_names": ["source-ref", "label"],
    },
    "val": {"s3_data": "s3://my-data/val", "input_mode": "FastFile"},
    "fsx": {
        "file_system_id": "fs-0123456789abcdef0",
        "file_system_type": "FSxLustre",
        "directory_path": "/x7q3bbmv/data",
        "file_system_access_mode": "ro",
    },
    "efs": {
        "file_system_id": "fs-0fedcba9",
        "file_system_type": "EFS",
        "directory_path": "/scratch",
        "file_system_access_mode": "rw",
        "content_type": "application/octet-stream",
    },
}
VPC = {"subnets": ["subnet-0a1b2c3d"], "security_group_ids": ["sg-0123abcd"]}
HETERO_GROUPS = [
    {"instance_group_name": "data", "instance_type": "ml.c5.18xlarge", "instance_count": 2},
    {"instance_group_name": "gpus", "instance_type": "ml.p3.16xlarge", "instance_count": 4},
]
HETERO_CHANNELS: dict[str, Any] = {
    "train": {"s3_data": "s3://my-data/cifar10/train", "instance_groups": ["data"]},
    "test": {"s3_data": "s3://my-data/cifar10/test", "instance_groups": ["data", "gpus"]},
}

# id -> (framework, estimator, inputs). Specs without platform settings: the SDK gets the
# estimator dict as its keyword arguments, unchanged.
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "torch_distributed": (
        "pytorch",
        _estimator(distribution={"torch_distributed": {"enabled": True}}),
        S3_CHANNELS,
    ),
    "pytorchddp": (
        "pytorch",
        _estimator(framework_version="2.0.1", distribution={"pytorchddp": {"enabled": True}}),
        S3_CHANNELS,
    ),
    "smdistributed": (
        "pytorch",
        _estimator(
            instance_type="ml.p4d.24xlarge",
            distribution={
                "smdistributed": {"dataparallel": {"enabled": True, "custom_mpi_options": "-verbose"}}
            },
        ),
        S3_CHANNELS,
    ),
    "smdistributed_default_options": (
        "tensorflow",
        _tf(
            instance_type="ml.p3.16xlarge",
            distribution={"smdistributed": {"dataparallel": {"enabled": True}}},
        ),
        S3_CHANNELS,
    ),
    "mpi_horovod": (
        "pytorch",
        _estimator(
            distribution={
                "mpi": {"enabled": True, "processes_per_host": 4, "custom_mpi_options": "-x NCCL_DEBUG=INFO"}
            }
        ),
        S3_CHANNELS,
    ),
    "mpi_defaults": ("pytorch", _estimator(distribution={"mpi": {"enabled": True}}), {}),
    "tf_mpi_model_dir_local": (
        "tensorflow",
        _tf(distribution={"mpi": {"enabled": True, "processes_per_host": 2}}),
        S3_CHANNELS,
    ),
    "tf_parameter_server": (
        "tensorflow",
        _tf(distribution={"parameter_server": {"enabled": True}}),
        S3_CHANNELS,
    ),
    "tf_mwms": (
        "tensorflow",
        _tf(distribution={"multi_worker_mirrored_strategy": {"enabled": True}}),
        S3_CHANNELS,
    ),
    "tf_single_trailing_slash": ("tensorflow", _tf(output_path="s3://my-output/jobs/"), S3_CHANNELS),
    "pt_no_framework_version": ("pytorch", _estimator(framework_version=None, py_version=None), S3_CHANNELS),
    "spot_checkpoint": (
        "pytorch",
        _estimator(
            distribution={"torch_distributed": {"enabled": True}},
            use_spot_instances=True,
            max_run=3600,
            max_wait=7200,
            checkpoint_s3_uri="s3://my-ckpt/job",
            checkpoint_local_path="/opt/ml/checkpoints",
            max_retry_attempts=3,
            volume_size=200,
            enable_network_isolation=True,
            encrypt_inter_container_traffic=True,
            environment={"NCCL_DEBUG": "INFO", "OMP_NUM_THREADS": "1"},
            tags=[{"Key": "team", "Value": "vision"}, {"Key": "project", "Value": "cifar 10"}],
            metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.]+)"}],
            input_mode="FastFile",
            **VPC,
        ),
        S3_CHANNELS,
    ),
    # Warm pools cannot be used with spot instances (dtrain.jobspec.service_rules): on demand here.
    "every_channel_shape": ("pytorch", _estimator(keep_alive_period_in_seconds=900, **VPC), RICH_CHANNELS),
    "empty_hyperparameters": ("pytorch", _estimator(hyperparameters={}), {}),
    # The estimator of the SageMaker distributed-training workshop (issue 13), as written there.
    "workshop": (
        "pytorch",
        {
            "entry_point": "train.py",
            "base_job_name": "pytorch-ddp-workshop",
            "image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.0.1-gpu-py310",
            "source_dir": "s3://my-code/workshop/sourcedir.tar.gz",
            "role": ROLE,
            "output_path": "s3://my-output/workshop",
            "instance_count": 2,
            "instance_type": "ml.p4d.24xlarge",
            "py_version": "py310",
            "distribution": {"pytorchddp": {"enabled": True}},
            "debugger_hook_config": False,
            "hyperparameters": {"epochs": 5, "batch-size": 256},
            "keep_alive_period_in_seconds": 1800,
        },
        S3_CHANNELS,
    ),
    # --- the rest of the SDK surface (dtrain.jobspec.estimator_args) --------------------------------
    "kms_model_channel_flags": (
        "pytorch",
        _estimator(
            instance_type="ml.p3.16xlarge",  # EBS only: SageMaker takes a volume key there
            volume_kms_key="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            output_kms_key="alias/train-output",
            model_uri="s3://my-models/resnet50/model.tar.gz",
            model_channel_name="pretrained",
            container_log_level=10,
            disable_output_compression=True,
            enable_sagemaker_metrics=False,
            enable_infra_check=True,
            enable_remote_debug=False,
            enable_session_tag_chaining=True,
            container_entry_point=["python3", "-u"],
            container_arguments=["--epochs", "3"],
            training_repository_access_mode="Vpc",
            training_repository_credentials_provider_arn=(
                "arn:aws:lambda:us-east-1:123456789012:function:registry-creds"
            ),
        ),
        S3_CHANNELS,
    ),
    "debugger_off_profiler_off": (
        "pytorch",
        _estimator(debugger_hook_config=False, disable_profiler=True, enable_infra_check=False),
        {},
    ),
    "debugger_profiler_tensorboard_configs": (
        "pytorch",
        _estimator(
            debugger_hook_config={
                "s3_output_path": "s3://my-debug/hooks",
                "container_local_output_path": "/opt/ml/output/tensors",
                "hook_parameters": {"save_interval": "100"},
                "collection_configs": [{"name": "losses", "parameters": {"save_interval": "10"}}],
            },
            profiler_config={"system_monitor_interval_millis": 500},
            tensorboard_output_config={
                "s3_output_path": "s3://my-debug/tensorboard",
                "container_local_output_path": "/opt/ml/output/tensorboard",
            },
        ),
        S3_CHANNELS,
    ),
    "debugger_config_without_s3_profiler_disabled_config": (
        "tensorflow",
        _tf(
            debugger_hook_config={"collection_configs": [{"name": "weights"}]},
            profiler_config={"s3_output_path": "s3://my-debug/prof", "disable_profiler": True},
            tensorboard_output_config={"s3_output_path": "s3://my-debug/tb"},
        ),
        {},
    ),
    "checkpointing_turns_debugger_off": (
        "pytorch",
        _estimator(
            instance_count=1,
            checkpoint_s3_uri="s3://my-ckpt/one",
            checkpoint_local_path="/opt/ml/checkpoints",
        ),
        {},
    ),
    "tf_model_dir_given": ("tensorflow", _tf(model_dir="s3://my-models/tf-run"), S3_CHANNELS),
    "tf_model_dir_false": ("tensorflow", _tf(model_dir=False, container_log_level=30), S3_CHANNELS),
    # A region without SageMaker Debugger: no default hook, the profiler off.
    "debugger_unsupported_region": ("pytorch", _estimator(), S3_CHANNELS),
    "model_channel_default_name_with_isolation": (
        "tensorflow",
        _tf(model_uri="s3://my-models/base.tar.gz", enable_network_isolation=True),
        S3_CHANNELS,
    ),
    # Heterogeneous clusters (instance_groups): the request's InstanceGroups, the training
    # group in sagemaker_distribution_instance_groups, channels' InstanceGroupNames.
    "instance_groups_mpi": (
        "pytorch",
        _estimator(
            instance_type=None,
            instance_count=None,
            instance_groups=HETERO_GROUPS,
            distribution={"mpi": {"enabled": True, "processes_per_host": 8}, "instance_groups": ["gpus"]},
        ),
        HETERO_CHANNELS,
    ),
    "instance_groups_smdistributed": (
        "tensorflow",
        _tf(
            instance_type=None,
            instance_count=None,
            instance_groups=[
                {"instance_group_name": "train", "instance_type": "ml.p4d.24xlarge", "instance_count": 2}
            ],
            distribution={"smdistributed": {"dataparallel": {"enabled": True}}},
        ),
        S3_CHANNELS,
    ),
    "instance_groups_torch_distributed": (
        "pytorch",
        _estimator(
            instance_type=None,
            instance_count=None,
            instance_groups=HETERO_GROUPS,
            distribution={"torch_distributed": {"enabled": True}, "instance_groups": ["gpus"]},
        ),
        HETERO_CHANNELS,
    ),
    "instance_groups_no_distribution": (
        "tensorflow",
        _tf(instance_type=None, instance_count=None, instance_groups=HETERO_GROUPS),
        HETERO_CHANNELS,
    ),
    # Debugger and Profiler rules (issue 13): every argument of Rule.sagemaker and
    # ProfilerRule.sagemaker; the rules' collections join the hook's (one shared, deduplicated).
    "rules_debugger_and_profiler": (
        "pytorch",
        _estimator(
            debugger_hook_config={
                "collection_configs": [
                    {"name": "losses", "parameters": {"save_interval": "10"}},
                    {"name": "biases"},
                ]
            },
            rules=[
                {"debugger_rule": "vanishing_gradient", "rule_parameters": {"threshold": "0.0001"}},
                {
                    "debugger_rule": "loss_not_decreasing",
                    "name": "LossStalls",
                    "container_local_output_path": "/opt/ml/processing/output/rule",
                    "s3_output_path": "s3://my-debug/rules",
                    "other_trials_s3_input_paths": ["s3://my-debug/trial-a", "s3://my-debug/trial-b"],
                    "rule_parameters": {"mode": "TRAIN", "num_steps": "20"},
                    "collections_to_save": [{"name": "losses", "parameters": {"save_interval": "10"}}],
                },
                {"debugger_rule": "dead_relu"},
                {"profiler_rule": "ProfilerReport", "rule_parameters": {"CPUBottleneck_threshold": 90}},
                {
                    "profiler_rule": "StepOutlier",
                    "name": "StepOutlierTrain",
                    "s3_output_path": "s3://my-debug/profiler-rules",
                    "rule_parameters": {"stddev": 5, "mode": "training"},
                },
                {"profiler_rule": "LoadBalancing", "rule_parameters": {"threshold": 0.25}},
            ],
        ),
        S3_CHANNELS,
    ),
    # The hook off and checkpointing: profiler rules are still sent, without a DebugHookConfig
    # (debugger rules there are refused: test_debugger_rules.py).
    "rules_without_hook_tensorflow": (
        "tensorflow",
        _tf(
            debugger_hook_config=False,
            rules=[
                {"profiler_rule": "LowGPUUtilization"},
                {"profiler_rule": "BatchSize", "rule_parameters": {"window": 100}},
            ],
        ),
        S3_CHANNELS,
    ),
}


CASE_REGIONS = {"debugger_unsupported_region": "eu-south-2", "rules_without_hook_tensorflow": "eu-west-1"}


def _sdk_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, str):
            out[name] = value
        elif "s3_data" in value:
            out[name] = {"TrainingInput": value}
        else:
            out[name] = {"FileSystemInput": value}
    return out


PLATFORM = {
    "region": "eu-west-1",
    "role_arn": "arn:aws:iam::210987654321:role/dtrain-job",
    "output_s3_uri": "s3://dtrain-artifacts-210987654321/jobs",
    "checkpoint_s3_uri": "s3://dtrain-checkpoints-210987654321/ckpt",
    "subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
    "security_group_ids": ["sg-0123abcd"],
    "image_uris": {"ddp": "210987654321.dkr.ecr.eu-west-1.amazonaws.com/dtrain-ddp:abc"},
    "fsx_id": "fs-0123456789abcdef0",
    "fsx_mount_name": "x7q3bbmv",
    "efs_id": "fs-0fedcba9",
    "tags": {"team": "ml-platform", "cost-center": "1234"},
    "environment": {"DTRAIN_PLATFORM_VERSION": "1"},
    "volume_kms_key_id": "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "output_kms_key_id": "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}
PLATFORM_SPEC: dict[str, Any] = {
    "framework": "pytorch",
    "estimator": {
        "entry_point": "train_ddp.py",
        "source_dir": "s3://my-code/ddp/sourcedir.tar.gz",
        "image_uri": "ddp",
        "instance_type": "ml.g5.12xlarge",
        "instance_count": 2,
        "distribution": {"torch_distributed": {"enabled": True}},
        "hyperparameters": {"epochs": 3},
        "use_spot_instances": True,
        "max_run": 1800,
        "max_wait": 3600,
        "tags": {"team": "vision"},
        "environment": {"DTRAIN_PLATFORM_VERSION": "2"},
    },
    "inputs": {
        "train": {"file_system": "fsx", "path": "datasets/cifar10"},
        "scratch": {"file_system": "efs", "path": "/tmp-data/", "file_system_access_mode": "rw"},
        "test": "s3://my-data/cifar10/test",
    },
}
PLATFORM_JOB = "dtrain-platform-case-1"
# What a notebook user would pass to the SDK to get what the platform fills in.
PLATFORM_SDK_KWARGS: dict[str, Any] = {
    "entry_point": "train_ddp.py",
    "source_dir": "s3://my-code/ddp/sourcedir.tar.gz",
    "image_uri": "210987654321.dkr.ecr.eu-west-1.amazonaws.com/dtrain-ddp:abc",
    "role": PLATFORM["role_arn"],
    "output_path": PLATFORM["output_s3_uri"],
    "checkpoint_s3_uri": f"s3://dtrain-checkpoints-210987654321/ckpt/{PLATFORM_JOB}",
    "instance_type": "ml.g5.12xlarge",
    "instance_count": 2,
    "distribution": {"torch_distributed": {"enabled": True}},
    "hyperparameters": {"epochs": 3},
    "use_spot_instances": True,
    "max_run": 1800,
    "max_wait": 3600,
    "subnets": PLATFORM["subnets"],
    "security_group_ids": PLATFORM["security_group_ids"],
    "tags": [
        {"Key": "team", "Value": "vision"},
        {"Key": "cost-center", "Value": "1234"},
    ],
    "environment": {"DTRAIN_PLATFORM_VERSION": "2"},
    # No volume_kms_key: ml.g5 has local NVMe storage, where SageMaker refuses one and the
    # platform leaves its default out (dtrain.jobspec.service_rules).
    "output_kms_key": PLATFORM["output_kms_key_id"],
    "metric_definitions": [
        {"Name": "train:loss", "Regex": "train_loss=([0-9.eE+-]+)"},
        {"Name": "validation:accuracy", "Regex": "val_acc=([0-9.eE+-]+)"},
        {"Name": "train:throughput", "Regex": "samples_per_sec=([0-9.eE+-]+)"},
        {"Name": "epoch", "Regex": "epoch=([0-9]+)"},
        {"Name": "step", "Regex": "step=([0-9]+)"},
    ],
}
PLATFORM_SDK_INPUTS = {
    "train": {
        "FileSystemInput": {
            "file_system_id": "fs-0123456789abcdef0",
            "file_system_type": "FSxLustre",
            "directory_path": "/x7q3bbmv/datasets/cifar10",
            "file_system_access_mode": "ro",
        }
    },
    "scratch": {
        "FileSystemInput": {
            "file_system_id": "fs-0fedcba9",
            "file_system_type": "EFS",
            "directory_path": "/tmp-data",
            "file_system_access_mode": "rw",
        }
    },
    "test": "s3://my-data/cifar10/test",
}


def _job_name(case_id: str) -> str:
    return "parity-" + case_id.replace("_", "-")


@pytest.fixture(scope="session")
def local_code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    code = tmp_path_factory.mktemp("code")
    (code / "train.py").write_text("print('train')\n")
    return code


@pytest.fixture(scope="session")
def all_cases(local_code_dir: Path) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    cases = dict(CASES)
    cases["local_source_dir"] = ("pytorch", _estimator(source_dir=str(local_code_dir)), S3_CHANNELS)
    cases["local_source_dir_network_isolation"] = (
        "tensorflow",
        _tf(source_dir=str(local_code_dir), enable_network_isolation=True),
        S3_CHANNELS,
    )
    cases["local_source_dir_code_location"] = (
        "pytorch",
        _estimator(source_dir=str(local_code_dir), code_location="s3://my-code-uploads/team-a/"),
        S3_CHANNELS,
    )
    cases["local_source_dir_dependencies"] = (
        "pytorch",
        _estimator(source_dir=str(local_code_dir), dependencies=[str(local_code_dir.parent / "lib")]),
        S3_CHANNELS,
    )
    cases["local_code_location_bucket_only"] = (
        "tensorflow",
        _tf(source_dir=str(local_code_dir), code_location="s3://my-code-uploads"),
        S3_CHANNELS,
    )
    return cases


@pytest.fixture(scope="session")
def sdk_requests(
    all_cases: dict[str, tuple[str, dict[str, Any], dict[str, Any]]], local_code_dir: Path
) -> dict[str, Any]:
    if not SDK_PYTHON.exists():
        pytest.fail(f"{SDK_PYTHON} is missing: `make test` creates it from requirements-sdk.txt")
    configs = [
        {
            "id": case_id,
            "framework": framework,
            "kwargs": copy.deepcopy(estimator),
            "inputs": _sdk_inputs(inputs),
            "job_name": _job_name(case_id),
            "region": CASE_REGIONS.get(case_id, "us-east-1"),
        }
        for case_id, (framework, estimator, inputs) in all_cases.items()
    ]
    configs.append(
        {
            "id": "platform_filled",
            "framework": "pytorch",
            "kwargs": PLATFORM_SDK_KWARGS,
            "inputs": PLATFORM_SDK_INPUTS,
            "job_name": PLATFORM_JOB,
            "region": PLATFORM["region"],
        }
    )
    configs += _processing_and_experiment_configs(local_code_dir)
    configs += _hosting_configs(local_code_dir)
    configs.append({"id": "rules_catalogue", "kind": "rules_catalogue", "regions": RULE_REGIONS})
    proc = subprocess.run(
        [str(SDK_PYTHON), str(BUILDER)],
        input=json.dumps(configs),
        capture_output=True,
        text=True,
        timeout=600,  # about 130 s on a quiet machine; a loaded CI runner takes several times that
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results: dict[str, Any] = json.loads(proc.stdout)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_every_sdk_argument_is_accepted_or_refused(framework: str, sdk_requests: dict[str, Any]) -> None:
    """A new SDK argument (or one dtrain's table lacks) fails here, not in a user's notebook."""
    signatures: dict[str, list[str]] = sdk_requests["__signatures__"]
    own = "PyTorch" if framework == "pytorch" else "TensorFlow"
    sdk_args = set(signatures["EstimatorBase"]) | set(signatures["Framework"]) | set(signatures[own])
    table = {a.name for a in ARGS if framework in a.frameworks}
    assert sdk_args == table, f"only in the SDK: {sdk_args - table}; only in the table: {table - sdk_args}"
    for arg in ARGS:
        declared_by = [c for c in arg.sdk.split("/") if arg.name in signatures[c]]
        assert declared_by, f"{arg.name}: not an argument of {arg.sdk}'s __init__"


def _comparable(request: dict[str, Any]) -> dict[str, Any]:
    """The request with the hook's CollectionConfigurations in one order (the SDK's is a set's)."""
    out = copy.deepcopy(request)
    hook = out.get("DebugHookConfig")
    if hook is not None and "CollectionConfigurations" in hook:
        hook["CollectionConfigurations"].sort(key=lambda c: json.dumps(c, sort_keys=True))
    return out


def _diff(ours: Any, theirs: Any, path: str = "") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out: list[str] = []
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours:
                out.append(f"{path}.{key}: missing in ours (SDK: {theirs[key]!r})")
            elif key not in theirs:
                out.append(f"{path}.{key}: extra in ours ({ours[key]!r})")
            else:
                out.extend(_diff(ours[key], theirs[key], f"{path}.{key}"))
        return out
    return [] if ours == theirs else [f"{path}: ours {ours!r} != SDK {theirs!r}"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "case_id",
    [
        *CASES,
        "local_source_dir",
        "local_source_dir_network_isolation",
        "local_source_dir_code_location",
        "local_code_location_bucket_only",
        "local_source_dir_dependencies",
    ],
)
def test_request_equals_sdk_v2(
    case_id: str,
    all_cases: dict[str, tuple[str, dict[str, Any], dict[str, Any]]],
    sdk_requests: dict[str, Any],
) -> None:
    framework, estimator, inputs = all_cases[case_id]
    spec = parse_spec({"framework": framework, "estimator": estimator, "inputs": inputs})
    region = CASE_REGIONS.get(case_id, "us-east-1")
    ours = build_training_job_request(spec, None, job_name=_job_name(case_id), region=region)
    ours, theirs = _comparable(ours), _comparable(sdk_requests[case_id])
    assert ours == theirs, "\n".join(_diff(ours, theirs))


@pytest.mark.slow
def test_platform_filled_request_equals_sdk_with_the_same_values(sdk_requests: dict[str, Any]) -> None:
    spec = parse_spec(PLATFORM_SPEC)
    ours = build_training_job_request(spec, PlatformSettings.from_dict(PLATFORM), job_name=PLATFORM_JOB)
    ours, theirs = _comparable(ours), _comparable(sdk_requests["platform_filled"])
    assert ours == theirs, "\n".join(_diff(ours, theirs))


@pytest.mark.slow
def test_every_distribution_row_of_the_contract_is_covered(sdk_requests: dict[str, Any]) -> None:
    flags = set()
    for request in sdk_requests.values():
        if not isinstance(request, dict) or "TrainingJobName" not in request:
            continue  # signatures, catalogues, processing and hosting requests
        flags |= {k for k in request["HyperParameters"] if k.endswith("_enabled")}
    assert flags >= {
        "sagemaker_torch_distributed_enabled",
        "sagemaker_pytorch_ddp_enabled",
        "sagemaker_distributed_dataparallel_enabled",
        "sagemaker_mpi_enabled",
        "sagemaker_parameter_server_enabled",
        "sagemaker_multi_worker_mirrored_strategy_enabled",
    }


# --- fit(experiment_config=...) and CreateProcessingJob (issue 17) --------------------------------
EXPERIMENT_CONFIG = {
    "ExperimentName": "cifar10-sweep",
    "TrialName": "cifar10-sweep-lr01",
    "TrialComponentDisplayName": "lr-0-1",
    "RunName": "run-0001",
}
PROC_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-processor:1.0"
PROC_PLATFORM = {
    "region": "us-east-1",
    "role_arn": ROLE,
    "output_s3_uri": "s3://platform-artifacts/jobs",
    "checkpoint_s3_uri": "s3://platform-checkpoints/ckpt",
    "jobs_in_vpc": False,
}
# id -> (ScriptProcessor kwargs, .run() kwargs, with platform settings). Every argument of both.
PROCESSING_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
    "processing_every_argument": (
        {
            "role": ROLE,
            "image_uri": PROC_IMAGE,
            "command": ["python3", "-u"],
            "instance_type": "ml.m5.xlarge",
            "instance_count": 2,
            "volume_size_in_gb": 50,
            "volume_kms_key": "arn:aws:kms:us-east-1:123456789012:key/volume",
            "output_kms_key": "arn:aws:kms:us-east-1:123456789012:key/output",
            "max_runtime_in_seconds": 7200,
            "base_job_name": "prep",
            "env": {"MODE": "full"},
            "tags": [{"Key": "team", "Value": "vision"}],
            "network_config": {
                "enable_network_isolation": True,
                "encrypt_inter_container_traffic": True,
                "subnets": ["subnet-0a1b2c3d"],
                "security_group_ids": ["sg-0123abcd"],
            },
        },
        {
            "code": "s3://my-code/prep/preprocess.py",
            "inputs": [
                {
                    "source": "s3://my-data/raw",
                    "destination": "/opt/ml/processing/input/raw",
                    "input_name": "raw",
                    "s3_data_type": "S3Prefix",
                    "s3_input_mode": "Pipe",
                    "s3_data_distribution_type": "ShardedByS3Key",
                    "s3_compression_type": "Gzip",
                },
                {
                    "source": "s3://my-data/labels.manifest",
                    "destination": "/opt/ml/processing/input/m",
                    "s3_data_type": "ManifestFile",
                },
            ],
            "outputs": [
                {
                    "source": "/opt/ml/processing/output/train",
                    "destination": "s3://my-data/prepared/train",
                    "output_name": "train",
                    "s3_upload_mode": "Continuous",
                },
                {"source": "/opt/ml/processing/output/test", "destination": "s3://my-data/prepared/test"},
            ],
            "arguments": ["--shards", "4"],
            "job_name": "parity-processing-every-argument",
            "experiment_config": EXPERIMENT_CONFIG,
        },
        False,
    ),
    "processing_platform_defaults": (
        {
            "image_uri": PROC_IMAGE,
            "command": ["python3"],
            "instance_type": "ml.c5.2xlarge",
            "instance_count": 1,
        },
        {
            "code": "LOCAL",
            "outputs": [{"source": "/opt/ml/processing/output/train", "output_name": "train"}],
            "job_name": "dtrain-parity-processing-platform-defaults",
        },
        True,
    ),
    "processing_minimal_no_outputs": (
        {
            "role": ROLE,
            "image_uri": PROC_IMAGE,
            "command": ["bash"],
            "instance_type": "ml.t3.medium",
            "instance_count": 1,
            "network_config": {},
        },
        {"code": "s3://my-code/prep/run.sh", "job_name": "parity-processing-minimal"},
        False,
    ),
}


def _processing_run(run: dict[str, Any], code_dir: Path) -> dict[str, Any]:
    return {**run, "code": str(code_dir / "preprocess.py")} if run["code"] == "LOCAL" else run


def _processing_and_experiment_configs(code_dir: Path) -> list[dict[str, Any]]:
    (code_dir / "preprocess.py").write_text("print('prep')\n")
    configs: list[dict[str, Any]] = [
        {
            "id": case_id,
            "kind": "processing",
            "processor": {**processor, **({"role": ROLE} if platform else {})},
            "run": _processing_run(run, code_dir),
            "region": "us-east-1",
            "default_bucket": "platform-artifacts" if platform else None,
            # The platform's output_s3_uri s3://platform-artifacts/jobs: bucket and prefix.
            "default_bucket_prefix": "jobs" if platform else None,
        }
        for case_id, (processor, run, platform) in PROCESSING_CASES.items()
    ]
    configs.append(
        {
            "id": "experiment_config",
            "framework": "pytorch",
            "kwargs": _estimator(),
            "inputs": S3_CHANNELS,
            "job_name": "parity-experiment-config",
            "region": "us-east-1",
            "experiment_config": EXPERIMENT_CONFIG,
        }
    )
    return configs


@pytest.mark.slow
def test_experiment_config_equals_sdk_v2(sdk_requests: dict[str, Any]) -> None:
    spec = parse_spec(
        {
            "framework": "pytorch",
            "estimator": _estimator(),
            "inputs": S3_CHANNELS,
            "experiment_config": EXPERIMENT_CONFIG,
        }
    )
    ours = build_training_job_request(spec, None, job_name="parity-experiment-config", region="us-east-1")
    theirs = _comparable(sdk_requests["experiment_config"])
    assert theirs["ExperimentConfig"] == EXPERIMENT_CONFIG
    assert ours == theirs, "\n".join(_diff(ours, theirs))


@pytest.mark.slow
@pytest.mark.parametrize("case_id", list(PROCESSING_CASES))
def test_processing_request_equals_sdk_v2(
    case_id: str, local_code_dir: Path, sdk_requests: dict[str, Any]
) -> None:
    from dtrain.requests.processing_request import build_processing_job_request

    processor, run, with_platform = PROCESSING_CASES[case_id]
    spec = parse_spec(
        {
            "framework": "pytorch",
            "estimator": _estimator(),
            "processing": {"processor": processor, "run": _processing_run(run, local_code_dir)},
        }
    )
    platform = PlatformSettings.from_dict(PROC_PLATFORM) if with_platform else None
    ours = build_processing_job_request(spec, platform)
    theirs = sdk_requests[case_id]
    assert ours == theirs, "\n".join(_diff(ours, theirs))


# --- deploy / transform: CreateModel, CreateEndpointConfig, CreateEndpoint, CreateTransformJob (issue 16)
# The SDK side is what a notebook writes after training: PyTorchModel / TensorFlowModel with the
# training job's model data and the arguments Estimator.create_model takes from the estimator
# (role, framework_version, py_version, container_log_level, code_location, VPC), then .deploy(...)
# or .transformer(...).transform(...). Names are given on both sides (the SDK's own default
# names carry a timestamp; dtrain's default is the training job's name).
HOSTING_JOB = "parity-hosting-job"
HOSTING_MODEL_DATA = f"s3://my-output/jobs/{HOSTING_JOB}/output/model.tar.gz"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HOSTING_TAGS = [{"Key": "team", "Value": "vision"}, {"Key": "stage", "Value": "prod"}]
HOSTING_PLATFORM_JOB = "dtrain-parity-hosting"
# What a notebook passes for a model that serves its own code/inference.py (without it the SDK
# sends "" for both, which the inference toolkit cannot load; dtrain fills these in).
OWN_CODE_ENV = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
HOSTING_PLATFORM_MODEL_DATA = (
    f"s3://dtrain-artifacts-210987654321/jobs/{HOSTING_PLATFORM_JOB}/output/model.tar.gz"
)


def _pt_model(**kw: Any) -> dict[str, Any]:
    base = {
        "model_data": HOSTING_MODEL_DATA,
        "role": ROLE,
        "framework_version": "2.2.0",
        "py_version": "py310",
        "container_log_level": 20,
        "name": HOSTING_JOB,
    }
    return {**base, **kw}


def _tf_model(**kw: Any) -> dict[str, Any]:
    base = {
        "model_data": HOSTING_MODEL_DATA,
        "role": ROLE,
        "framework_version": "2.13",
        "container_log_level": 20,
        "name": HOSTING_JOB,
    }
    return {**base, **kw}


# id -> (framework, estimator, block ("deploy" | "transform"), the block, with platform,
#        SDK model kwargs, SDK kwargs: {"deploy": ...} or {"transformer": ..., "transform": ...}).
# "LOCAL" in a path stands for the session's temporary code folder.
HOSTING_CASES: dict[
    str, tuple[str, dict[str, Any], str, dict[str, Any], bool, dict[str, Any], dict[str, Any]]
] = {
    "deploy_pytorch_realtime_every_argument": (
        "pytorch",
        _estimator(),
        "deploy",
        {
            "initial_instance_count": 2,
            "instance_type": "ml.p3.2xlarge",  # EBS volumes: SageMaker takes a KMS key and size there
            "endpoint_name": "parity-endpoint",
            "model_name": "parity-model",
            "entry_point": "inference.py",
            "source_dir": "s3://my-code/inference/sourcedir.tar.gz",
            "model_server_workers": 2,
            "env": {"TS_MAX_RESPONSE_SIZE": "20000000"},
            "code_location": "s3://my-code-uploads/models/",
            "tags": HOSTING_TAGS,
            "kms_key": KMS_KEY,
            "volume_size": 64,
            "model_data_download_timeout": 600,
            "container_startup_health_check_timeout": 900,
            "container_log_level": 10,
            "vpc_config": {"Subnets": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0123abcd"]},
            "enable_network_isolation": True,
        },
        False,
        _pt_model(
            name="parity-model",
            entry_point="inference.py",
            source_dir="s3://my-code/inference/sourcedir.tar.gz",
            model_server_workers=2,
            env={"TS_MAX_RESPONSE_SIZE": "20000000"},
            code_location="s3://my-code-uploads/models/",
            container_log_level=10,
            vpc_config={"Subnets": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0123abcd"]},
            enable_network_isolation=True,
        ),
        {
            "deploy": {
                "initial_instance_count": 2,
                "instance_type": "ml.p3.2xlarge",
                "endpoint_name": "parity-endpoint",
                "tags": HOSTING_TAGS,
                "kms_key": KMS_KEY,
                "volume_size": 64,
                "model_data_download_timeout": 600,
                "container_startup_health_check_timeout": 900,
            }
        },
    ),
    # The bundled trainers' model.tar.gz carries code/inference.py: no code, no repack.
    "deploy_pytorch_serverless_model_as_trained": (
        "pytorch",
        _estimator(),
        "deploy",
        {
            "serverless_inference_config": {
                "memory_size_in_mb": 4096,
                "max_concurrency": 10,
                "provisioned_concurrency": 2,
            }
        },
        False,
        _pt_model(env=OWN_CODE_ENV),
        {
            "deploy": {
                "serverless_inference_config": {
                    "memory_size_in_mb": 4096,
                    "max_concurrency": 10,
                    "provisioned_concurrency": 2,
                },
                "endpoint_name": HOSTING_JOB,
            }
        },
    ),
    "deploy_pytorch_local_code_gpu_alias_version": (
        "pytorch",
        _estimator(framework_version="2.1", tags=[{"Key": "owner", "Value": "ml"}]),
        "deploy",
        {
            "initial_instance_count": 1,
            "instance_type": "ml.g5.xlarge",
            "entry_point": "inference.py",
            "source_dir": "LOCAL",
            "code_location": "s3://my-code-uploads",
        },
        False,
        # Estimator.deploy: the estimator's tags when the deploy call gives none.
        _pt_model(
            framework_version="2.1",
            entry_point="inference.py",
            source_dir="LOCAL",
            code_location="s3://my-code-uploads",
        ),
        {
            "deploy": {
                "initial_instance_count": 1,
                "instance_type": "ml.g5.xlarge",
                "endpoint_name": HOSTING_JOB,
                "tags": [{"Key": "owner", "Value": "ml"}],
            }
        },
    ),
    "deploy_tensorflow_realtime_with_code": (
        "tensorflow",
        _tf(),
        "deploy",
        {
            "initial_instance_count": 1,
            "instance_type": "ml.c5.xlarge",
            "entry_point": "inference.py",
            "source_dir": "LOCAL",
            "env": {"SAGEMAKER_TFS_INTER_OP_PARALLELISM": "2"},
            "code_location": "s3://my-code-uploads/tf",
            "container_log_level": 30,
        },
        False,
        _tf_model(
            entry_point="inference.py",
            source_dir="LOCAL",
            env={"SAGEMAKER_TFS_INTER_OP_PARALLELISM": "2"},
            code_location="s3://my-code-uploads/tf",
            container_log_level=30,
        ),
        {
            "deploy": {
                "initial_instance_count": 1,
                "instance_type": "ml.c5.xlarge",
                "endpoint_name": HOSTING_JOB,
            }
        },
    ),
    # Trained with 2.12.0: TensorFlowModel serves it with 2.12.1 (no 2.12.0 serving image).
    "deploy_tensorflow_serverless_defaults": (
        "tensorflow",
        _estimator(framework_version="2.12.0"),
        "deploy",
        {"serverless_inference_config": {}, "endpoint_name": "tf-serverless"},
        False,
        _tf_model(framework_version="2.12.0"),
        {"deploy": {"serverless_inference_config": {}, "endpoint_name": "tf-serverless"}},
    ),
    # Platform-filled: role, VPC, environment, tags, the repack bucket, the endpoint's KMS key.
    "deploy_platform_filled": (
        "pytorch",
        {
            "entry_point": "train_ddp.py",
            "source_dir": "s3://my-code/ddp/sourcedir.tar.gz",
            "image_uri": "ddp",
            "instance_type": "ml.g5.12xlarge",
            "instance_count": 2,
            "tags": {"team": "vision"},
        },
        "deploy",
        {
            "initial_instance_count": 1,
            "instance_type": "ml.m5.xlarge",
            "framework_version": "2.1.0",
            "entry_point": "inference.py",
            "source_dir": "LOCAL",
        },
        True,
        {
            "model_data": HOSTING_PLATFORM_MODEL_DATA,
            "role": PLATFORM["role_arn"],
            "framework_version": "2.1.0",
            "py_version": "py310",
            "entry_point": "inference.py",
            "source_dir": "LOCAL",
            "env": {"DTRAIN_PLATFORM_VERSION": "1"},
            "vpc_config": {
                "Subnets": PLATFORM["subnets"],
                "SecurityGroupIds": PLATFORM["security_group_ids"],
            },
            "container_log_level": 20,
            "name": HOSTING_PLATFORM_JOB,
        },
        {
            "deploy": {
                "initial_instance_count": 1,
                "instance_type": "ml.m5.xlarge",
                "endpoint_name": HOSTING_PLATFORM_JOB,
                "tags": [{"Key": "team", "Value": "vision"}, {"Key": "cost-center", "Value": "1234"}],
                "kms_key": PLATFORM["volume_kms_key_id"],
            }
        },
    ),
    "transform_pytorch_every_argument": (
        "pytorch",
        _estimator(),
        "transform",
        {
            "instance_count": 2,
            "instance_type": "ml.c5.2xlarge",
            "strategy": "MultiRecord",
            "assemble_with": "Line",
            "output_path": "s3://my-output/predictions",
            "output_kms_key": "alias/predictions",
            "accept": "application/json",
            "env": {"BATCH": "1"},
            "max_concurrent_transforms": 4,
            "max_payload": 6,
            "tags": HOSTING_TAGS,
            "volume_kms_key": KMS_KEY,
            "data": "s3://my-data/cifar10/test",
            "data_type": "S3Prefix",
            "content_type": "application/x-npy",
            "compression_type": "Gzip",
            "split_type": "RecordIO",
            "job_name": "parity-transform",
            "input_filter": "$[1:]",
            "output_filter": "$['id','SageMakerOutput']",
            "join_source": "Input",
            "experiment_config": EXPERIMENT_CONFIG,
            "model_client_config": {"InvocationsTimeoutInSeconds": 600, "InvocationsMaxRetries": 2},
            "model_server_workers": 1,
            "model_name": "parity-transform-model",
        },
        False,
        _pt_model(name="parity-transform-model", model_server_workers=1, env=OWN_CODE_ENV),
        {
            "transformer": {
                "instance_count": 2,
                "instance_type": "ml.c5.2xlarge",
                "strategy": "MultiRecord",
                "assemble_with": "Line",
                "output_path": "s3://my-output/predictions",
                "output_kms_key": "alias/predictions",
                "accept": "application/json",
                "env": {"BATCH": "1"},
                "max_concurrent_transforms": 4,
                "max_payload": 6,
                "tags": HOSTING_TAGS,
                "volume_kms_key": KMS_KEY,
            },
            "transform": {
                "data": "s3://my-data/cifar10/test",
                "data_type": "S3Prefix",
                "content_type": "application/x-npy",
                "compression_type": "Gzip",
                "split_type": "RecordIO",
                "job_name": "parity-transform",
                "input_filter": "$[1:]",
                "output_filter": "$['id','SageMakerOutput']",
                "join_source": "Input",
                "experiment_config": EXPERIMENT_CONFIG,
                "model_client_config": {"InvocationsTimeoutInSeconds": 600, "InvocationsMaxRetries": 2},
            },
        },
    ),
    # Platform's bucket for the output (s3://<bucket>/<job>), SingleRecord, Line splits.
    "transform_tensorflow_platform_output": (
        "tensorflow",
        {
            "entry_point": "train.py",
            "source_dir": "s3://my-code/tf/sourcedir.tar.gz",
            "image_uri": IMAGE,
            "framework_version": "2.14",
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
        },
        "transform",
        {
            "instance_count": 1,
            "instance_type": "ml.m5.large",
            "strategy": "SingleRecord",
            "data": "s3://my-data/test.jsonl",
            "split_type": "Line",
            "content_type": "application/jsonlines",
            "entry_point": "inference.py",
        },
        True,
        {
            "model_data": HOSTING_PLATFORM_MODEL_DATA,
            "role": PLATFORM["role_arn"],
            "framework_version": "2.14",
            "entry_point": "LOCAL/inference.py",
            "env": {"DTRAIN_PLATFORM_VERSION": "1"},
            "vpc_config": {
                "Subnets": PLATFORM["subnets"],
                "SecurityGroupIds": PLATFORM["security_group_ids"],
            },
            "container_log_level": 20,
            "name": HOSTING_PLATFORM_JOB,
        },
        {
            "transformer": {
                "instance_count": 1,
                "instance_type": "ml.m5.large",
                "strategy": "SingleRecord",
                "tags": [{"Key": "team", "Value": "ml-platform"}, {"Key": "cost-center", "Value": "1234"}],
                "output_kms_key": PLATFORM["output_kms_key_id"],
                "volume_kms_key": PLATFORM["volume_kms_key_id"],
            },
            "transform": {
                "data": "s3://my-data/test.jsonl",
                "split_type": "Line",
                "content_type": "application/jsonlines",
                "job_name": HOSTING_PLATFORM_JOB,
            },
        },
    ),
}


def _local(value: Any, code_dir: Path) -> Any:
    """Replace the "LOCAL" placeholder with the session's code folder (SDK side: absolute)."""
    if isinstance(value, str) and value.startswith("LOCAL"):
        return str(code_dir) + value[len("LOCAL") :]
    if isinstance(value, dict):
        return {k: _local(v, code_dir) for k, v in value.items()}
    return value


def _hosting_configs(code_dir: Path) -> list[dict[str, Any]]:
    (code_dir / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    configs: list[dict[str, Any]] = []
    for case_id, (framework, _est, kind, _block, platform, model, calls) in HOSTING_CASES.items():
        configs.append(
            {
                "id": case_id,
                "kind": kind,
                "framework": framework,
                "region": PLATFORM["region"] if platform else "us-east-1",
                # Without platform settings dtrain needs code_location or output_path; the SDK
                # still asks its session for a default bucket, which must not reach STS.
                "default_bucket": "dtrain-artifacts-210987654321" if platform else "sdk-default-bucket",
                "default_bucket_prefix": "jobs" if platform else None,  # the platform's output prefix
                "model": _local(model, code_dir),
                **_local(calls, code_dir),
            }
        )
    configs.append({"id": "inference_images", "kind": "inference_images", "queries": _image_queries()})
    return configs


def _image_queries() -> list[list[Any]]:
    from dtrain.jobspec.inference_images import DLC_REGIONS, INFERENCE_IMAGES

    queries: list[list[Any]] = []
    for framework, images in INFERENCE_IMAGES.items():
        for version in [*images.versions, *images.aliases]:
            # gpu, serverless (cpu) and cpu, each in another partition.
            queries.append([framework, version, "us-east-1", "ml.g5.xlarge", None])
            queries.append([framework, version, "cn-north-1", None, None])
            queries.append([framework, version, "us-gov-west-1", "ml.c5.xlarge", None])
    for region in sorted(DLC_REGIONS):
        queries.append(["pytorch", "2.2", region, "ml.p3.2xlarge", "py310"])
    return queries


def _hosting_spec(case_id: str, code_dir: Path) -> tuple[Any, PlatformSettings | None, str]:
    framework, estimator, kind, block, platform, _model, _calls = HOSTING_CASES[case_id]
    spec = parse_spec(
        {"framework": framework, "estimator": estimator, kind: _local(block, code_dir)},
        spec_dir=str(code_dir),
    )
    settings = PlatformSettings.from_dict(PLATFORM) if platform else None
    return spec, settings, HOSTING_PLATFORM_JOB if platform else HOSTING_JOB


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c for c, v in HOSTING_CASES.items() if v[2] == "deploy"])
def test_deploy_requests_equal_sdk_v2(
    case_id: str, local_code_dir: Path, sdk_requests: dict[str, Any]
) -> None:
    from dtrain.requests.inference_request import (
        build_endpoint_config_request,
        build_endpoint_request,
        build_model_request,
    )

    spec, platform, job = _hosting_spec(case_id, local_code_dir)
    region = None if platform is not None else "us-east-1"
    theirs = sdk_requests[case_id]
    ours = {
        "CreateModel": build_model_request(spec, platform, training_job_name=job, region=region),
        "CreateEndpointConfig": build_endpoint_config_request(spec, platform, training_job_name=job),
        "CreateEndpoint": build_endpoint_request(spec, platform, training_job_name=job),
    }
    for operation, request in ours.items():
        assert request == theirs[operation], f"{operation}:\n" + "\n".join(_diff(request, theirs[operation]))
    _assert_same_repack(spec, platform, job, "deploy", region, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c for c, v in HOSTING_CASES.items() if v[2] == "transform"])
def test_transform_requests_equal_sdk_v2(
    case_id: str, local_code_dir: Path, sdk_requests: dict[str, Any]
) -> None:
    from dtrain.requests.inference_request import build_model_request, build_transform_job_request

    spec, platform, job = _hosting_spec(case_id, local_code_dir)
    region = None if platform is not None else "us-east-1"
    theirs = sdk_requests[case_id]
    ours = {
        "CreateModel": build_model_request(
            spec, platform, training_job_name=job, block="transform", region=region
        ),
        "CreateTransformJob": build_transform_job_request(spec, platform, training_job_name=job),
    }
    for operation, request in ours.items():
        assert request == theirs[operation], f"{operation}:\n" + "\n".join(_diff(request, theirs[operation]))
    _assert_same_repack(spec, platform, job, "transform", region, theirs)


def _assert_same_repack(
    spec: Any,
    platform: PlatformSettings | None,
    job: str,
    block: str,
    region: str | None,
    theirs: dict[str, Any],
) -> None:
    """The repack dtrain leaves to the platform is the one the SDK did (same archives, same code)."""
    from dtrain.requests.inference_request import model_repack

    plan = model_repack(spec, platform, job, block, region)
    sdk = theirs.get("repack")
    if sdk is None:
        assert plan is None
        return
    assert plan is not None
    assert (plan.model_data, plan.repacked_model_data) == (sdk["model_uri"], sdk["repacked_model_uri"])
    assert Path(plan.entry_point).name == Path(sdk["inference_script"]).name
    expected_dir = sdk["source_directory"]
    if expected_dir is not None and not expected_dir.startswith("s3://"):
        assert (
            plan.source_dir is not None
            and (Path(spec.spec_dir) / plan.source_dir).resolve() == Path(expected_dir).resolve()
        )
    else:
        assert plan.source_dir == expected_dir


@pytest.mark.slow
def test_inference_images_equal_the_sdks_lookup(sdk_requests: dict[str, Any]) -> None:
    """Every version (and alias) of dtrain's table, in several partitions, cpu / gpu / serverless,
    and every region: the URI SDK 2.220's image_uris.retrieve gives."""
    from dtrain.jobspec.errors import SpecError
    from dtrain.jobspec.inference_images import inference_image_uri

    theirs = sdk_requests["inference_images"]
    mismatches = []
    for (framework, version, region, instance_type, py_version), sdk_uri in zip(
        _image_queries(), theirs, strict=True
    ):
        try:
            ours: str | None = inference_image_uri(framework, version, region, instance_type, py_version)
        except SpecError:
            ours = None
        if ours != sdk_uri:
            mismatches.append(f"{framework} {version} {region} {instance_type}: ours {ours} != SDK {sdk_uri}")
    assert not mismatches, "\n".join(mismatches)


# --- rules: the built-in rule catalogue and the evaluator image per region (issue 13) -------------
RULE_REGIONS = [
    "us-east-1",
    "eu-west-1",
    "cn-north-1",
    "us-gov-west-1",
    "af-south-1",
    "eu-south-2",
    "ap-south-2",
]


@pytest.mark.slow
def test_the_built_in_rules_equal_smdebug_rulesconfigs(sdk_requests: dict[str, Any]) -> None:
    """dtrain.jobspec.debugger_rules' tables are smdebug-rulesconfig 1.0.1's rules as the SDK builds them,
    every one (a new rule in the library fails here), and the evaluator image of every region."""
    from dtrain.jobspec.debugger_rules import (
        DEBUGGER_RULES,
        PROFILER_RULES,
        RULE_IMAGE_ACCOUNTS,
        rule_evaluator_image,
    )
    from dtrain.jobspec.errors import SpecError

    theirs = sdk_requests["rules_catalogue"]
    ours_debugger = {
        name: {
            "name": config_name,
            "parameters": {"rule_to_invoke": config_name},
            "collections": [[n, dict(p)] for n, p in collections],
        }
        for name, (config_name, collections) in DEBUGGER_RULES.items()
    }
    assert ours_debugger == theirs["debugger"]
    ours_profiler = {
        name: {**{k: v for k, v in defaults.items()}, "rule_to_invoke": name}
        for name, defaults in PROFILER_RULES.items()
    }
    assert ours_profiler == theirs["profiler"]
    for region, image in theirs["images"].items():
        try:
            ours: str | None = rule_evaluator_image(region)
        except SpecError:
            ours = None
        assert ours == image, region
    assert set(RULE_IMAGE_ACCOUNTS) >= {r for r, image in theirs["images"].items() if image}
