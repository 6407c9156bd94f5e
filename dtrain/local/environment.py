"""The SM_* environment the SageMaker training toolkit gives a training process.

Written from the toolkit's contract (`sagemaker_training.environment`, version 4.9.0, the
one requirements-sdk.txt pins; 5.x adds only a `topology` field, empty except on GB200
UltraServers, to SM_TRAINING_ENV) and checked key by key against the toolkit itself in
tests/local/test_toolkit_parity.py. Values the toolkit derives from the machine
(SM_NUM_CPUS, SM_NUM_GPUS, SM_NUM_NEURONS, the smddprun checks) are derived here the same
way, from this machine: a simulated host is this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dtrain.local.container_config import input_data_config, resource_config
from dtrain.local.layout import HostTree

# Hyperparameters the toolkit treats as its own, not as framework parameters.
TOOLKIT_HYPERPARAMETERS = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_region",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "default_user_module_name",
        "_tuning_objective_metric",
        "sagemaker_s3_output",
    }
)
# Any of these turns the instance group into a distribution group (master = its first host).
DISTRIBUTION_FLAGS = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
    "sagemaker_torch_distributed_enabled",
)
DEFAULT_LOG_LEVEL = 20  # logging.INFO


def decode_hyperparameters(raw: Mapping[str, str]) -> dict[str, Any]:
    """hyperparameters.json values are JSON text; a value that is not stays a string."""
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (ValueError, TypeError):
            decoded[key] = value
    return decoded


def split_hyperparameters(hps: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, toolkit's sagemaker_* parameters, framework parameters)."""
    sagemaker = {k: v for k, v in hps.items() if k in TOOLKIT_HYPERPARAMETERS or k.startswith("sagemaker_")}
    user = {k: v for k, v in hps.items() if k not in sagemaker}
    framework = {k: v for k, v in sagemaker.items() if k not in TOOLKIT_HYPERPARAMETERS}
    return user, sagemaker, framework


def distribution_of(framework: Mapping[str, Any]) -> str:
    """The distribution a request's framework hyperparameters enable ("none" for none)."""
    if framework.get("sagemaker_torch_distributed_enabled"):
        return "torch_distributed"
    if framework.get("sagemaker_pytorch_ddp_enabled"):
        return "pytorchddp"
    if framework.get("sagemaker_distributed_dataparallel_enabled"):
        return "smdistributed"
    if framework.get("sagemaker_mpi_enabled"):
        return "mpi"
    if framework.get("sagemaker_parameter_server_enabled"):
        return "parameter_server"
    if framework.get("sagemaker_multi_worker_mirrored_strategy_enabled"):
        return "multi_worker_mirrored_strategy"
    return "none"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def user_args(hps: Mapping[str, Any]) -> list[str]:
    """The toolkit's command line from hyperparameters: sorted `--key value` pairs."""
    args: list[str] = []
    for key in sorted(hps):
        name = str(key)
        args.append(f"--{name}" if len(name) > 1 else f"-{name}")
        value = hps[key]
        if isinstance(value, Mapping):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append(_text(value))
    return args


def env_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def count_gpus() -> int:
    """GPUs as the toolkit counts them: lines of `nvidia-smi --list-gpus`."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def count_neurons(instance_type: str) -> int:
    if "trn2.48xlarge" in instance_type:
        return 64  # the toolkit hard-codes this instance type
    if shutil.which("neuron-ls") is None:
        return 0
    try:
        out = subprocess.run(["neuron-ls", "-j"], capture_output=True, text=True, check=True)
        return sum(int(item.get("nc_count", 0)) for item in json.loads(out.stdout))
    except (OSError, ValueError, subprocess.CalledProcessError):
        return 0


class MachineFacts:
    """What the toolkit asks the machine; looked up once per job, not per host."""

    def __init__(self, instance_type: str) -> None:
        self.num_cpus = os.cpu_count() or 1
        self.num_gpus = count_gpus()
        self.num_neurons = count_neurons(instance_type)
        self.smddprun = shutil.which("smddprun") is not None
        self.smddpmprun = shutil.which("smddpmprun") is not None


@dataclass(frozen=True)
class _ClusterRoles:
    """Which instance groups and hosts train together, and which host leads them."""

    current_group: str
    group_hosts: list[str]  # the current group's hosts
    distribution_groups: list[str]
    distribution_hosts: list[str]
    master: str


def _cluster_roles(
    res: Mapping[str, Any], framework: Mapping[str, Any], hosts: Sequence[str]
) -> _ClusterRoles:
    distributed = any(bool(framework.get(flag, False)) for flag in DISTRIBUTION_FLAGS)
    # As the toolkit: the current group trains when a strategy is on, unless the framework
    # parameters name the training groups; the distribution hosts are those groups' hosts.
    current_group = res["current_group_name"]
    distribution_groups = framework.get(
        "sagemaker_distribution_instance_groups", [current_group] if distributed else []
    )
    distribution_hosts = [
        h
        for g in res["instance_groups"]
        if g["instance_group_name"] in distribution_groups
        for h in g["hosts"]
    ]
    group_hosts = next(
        g["hosts"] for g in res["instance_groups"] if g["instance_group_name"] == current_group
    )
    return _ClusterRoles(
        current_group=current_group,
        group_hosts=group_hosts,
        distribution_groups=distribution_groups,
        distribution_hosts=distribution_hosts,
        master=distribution_hosts[0] if distribution_hosts else hosts[0],
    )


def training_environment(
    request: Mapping[str, Any],
    tree: HostTree,
    hosts: Sequence[str],
    *,
    machine: MachineFacts,
    job_name: str,
    framework_module: str | None = None,
) -> dict[str, Any]:
    """The toolkit's `Environment` as a dict (what it serialises into SM_TRAINING_ENV).

    Long because it is one flat table, the toolkit's keys in the toolkit's (alphabetical) order."""
    all_hps = decode_hyperparameters(request.get("HyperParameters", {}))
    user, sagemaker, framework = split_hyperparameters(all_hps)
    res = resource_config(request, tree.name, hosts)
    channels = input_data_config(request)
    cluster = _cluster_roles(res, framework, hosts)
    program = sagemaker.get("sagemaker_program")
    module_name = str(program).removesuffix(".py")
    base = str(tree.base)
    output_dir = os.path.join(base, "output")
    input_dir = os.path.join(base, "input")
    return {
        "additional_framework_parameters": framework,
        "channel_input_dirs": {name: str(tree.channel_dir(name)) for name in channels},
        "current_host": tree.name,
        "current_instance_group": cluster.current_group,
        "current_instance_group_hosts": list(cluster.group_hosts),
        "current_instance_type": res["current_instance_type"],
        "distribution_hosts": cluster.distribution_hosts,
        "distribution_instance_groups": cluster.distribution_groups,
        "framework_module": framework_module,
        "hosts": list(hosts),
        "hyperparameters": user,
        "input_config_dir": os.path.join(input_dir, "config"),
        "input_data_config": channels,
        "input_dir": input_dir,
        "instance_groups": [group["instance_group_name"] for group in res["instance_groups"]],
        "instance_groups_dict": {group["instance_group_name"]: group for group in res["instance_groups"]},
        "is_hetero": len(res["instance_groups"]) > 1,
        "is_master": tree.name == cluster.master,
        # The toolkit reads SM_HP_MP_PARAMETERS before anything sets it: null unless model parallel.
        "is_modelparallel_enabled": None,
        "is_smddpmprun_installed": machine.smddpmprun,
        "is_smddprun_installed": machine.smddprun,
        "job_name": job_name,
        "log_level": sagemaker.get("sagemaker_container_log_level", DEFAULT_LOG_LEVEL),
        "master_hostname": cluster.master,
        "model_dir": os.path.join(base, "model"),
        "module_dir": str(sagemaker.get("sagemaker_submit_directory", os.path.join(base, "code"))),
        "module_name": module_name,
        "network_interface_name": res["network_interface_name"],
        "num_cpus": machine.num_cpus,
        "num_gpus": machine.num_gpus,
        "num_neurons": machine.num_neurons,
        "output_data_dir": os.path.join(output_dir, "data"),
        "output_dir": output_dir,
        "output_intermediate_dir": os.path.join(output_dir, "intermediate"),
        "resource_config": res,
        "user_entry_point": program,
    }


def sm_environment(training_env: Mapping[str, Any]) -> dict[str, str]:
    """SM_* variables from the training environment, as the toolkit's `to_env_vars()`."""
    env = training_env
    keys = {
        "hosts": env["hosts"],
        "network_interface_name": env["network_interface_name"],
        "hps": env["hyperparameters"],
        "user_entry_point": env["user_entry_point"],
        "framework_params": env["additional_framework_parameters"],
        "resource_config": env["resource_config"],
        "input_data_config": env["input_data_config"],
        "output_data_dir": env["output_data_dir"],
        "channels": sorted(env["channel_input_dirs"]),
        "current_host": env["current_host"],
        "current_instance_type": env["current_instance_type"],
        "current_instance_group": env["current_instance_group"],
        "current_instance_group_hosts": env["current_instance_group_hosts"],
        "instance_groups": env["instance_groups"],
        "instance_groups_dict": env["instance_groups_dict"],
        "distribution_instance_groups": env["distribution_instance_groups"],
        "is_hetero": env["is_hetero"],
        "module_name": env["module_name"],
        "log_level": env["log_level"],
        "framework_module": env["framework_module"],
        "input_dir": env["input_dir"],
        "input_config_dir": env["input_config_dir"],
        "output_dir": env["output_dir"],
        "num_cpus": env["num_cpus"],
        "num_gpus": env["num_gpus"],
        "num_neurons": env["num_neurons"],
        "model_dir": env["model_dir"],
        "module_dir": env["module_dir"],
        "training_env": dict(env),
        "user_args": user_args(env["hyperparameters"]),
        "output_intermediate_dir": env["output_intermediate_dir"],
    }
    for name, path in env["channel_input_dirs"].items():
        keys[f"channel_{name}"] = path
    for key, value in env["hyperparameters"].items():
        keys[f"hp_{key}"] = value
    return {f"SM_{str(k).upper()}": env_value(v) for k, v in keys.items()}


def process_environment(
    request: Mapping[str, Any],
    tree: HostTree,
    hosts: Sequence[str],
    *,
    machine: MachineFacts,
    base_environ: Mapping[str, str],
) -> dict[str, str]:
    """The whole environment of a training process on one simulated host.

    The parent's variables (PATH, HOME, ...) stay, minus any stale SM_* ones; then what
    SageMaker's platform sets (TRAINING_JOB_NAME/ARN, the request's Environment), what the
    toolkit sets (SM_*, CURRENT_HOST, SAGEMAKER_JOB_NAME, SAGEMAKER_REGION), and
    SAGEMAKER_BASE_DIR, which the toolkit honours in place of /opt/ml.
    """
    job_name = str(request["TrainingJobName"])
    hps = decode_hyperparameters(request.get("HyperParameters", {}))
    environ = {k: v for k, v in base_environ.items() if not k.startswith("SM_")}
    environ.update({str(k): str(v) for k, v in dict(request.get("Environment", {})).items()})
    region = str(
        hps.get("sagemaker_region") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION", "")
    )
    environ.update(
        {
            "SAGEMAKER_BASE_DIR": str(tree.base),
            "TRAINING_JOB_NAME": job_name,
            "TRAINING_JOB_ARN": f"arn:aws:sagemaker:{region or 'local'}:000000000000:training-job/{job_name}",
            "CURRENT_HOST": tree.name,
            "SAGEMAKER_JOB_NAME": _text(hps.get("sagemaker_job_name", "")),
            "SAGEMAKER_REGION": region,
            # Python's output reaches the log as it is written, as in the SageMaker images.
            "PYTHONUNBUFFERED": "TRUE",
        }
    )
    training_env = training_environment(request, tree, hosts, machine=machine, job_name=job_name)
    environ.update(sm_environment(training_env))
    return environ
