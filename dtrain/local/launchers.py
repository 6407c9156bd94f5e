"""The launch command per distribution, as the SageMaker containers run it, on loopback.

| hyperparameter flag                              | launch                                      |
|--------------------------------------------------|---------------------------------------------|
| sagemaker_torch_distributed_enabled              | torchrun per host, --nnodes N --node_rank i |
| sagemaker_pytorch_ddp_enabled, _mpi_enabled,     | one mpirun, ranks grouped into hosts, each  |
| sagemaker_distributed_dataparallel_enabled       | rank `python -m mpi4py script` (toolkit's)  |
| sagemaker_parameter_server_enabled               | TF_CONFIG master/worker + a ps per host     |
| sagemaker_multi_worker_mirrored_strategy_enabled | TF_CONFIG worker per host                   |
| none                                             | the entry point on every host               |
| (ContainerEntrypoint / ContainerArguments)       | that command on every host, no toolkit      |

Differences from SageMaker, all forced by "every host is 127.0.0.1": the master address is
127.0.0.1 and ports are free ones (not 7777 / 2222), mpirun gets --oversubscribe and a
hostfile with one localhost line, and torchrun gets the master options even for one host.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtrain.local.environment import decode_hyperparameters, split_hyperparameters, user_args
from dtrain.local.errors import LocalModeError
from dtrain.local.layout import HostTree, JobLayout
from dtrain.local.ports import LOOPBACK, free_port, require_free
from dtrain.local.processes import ProcessSpec
from dtrain.local.tf_cluster import tf_config_specs

RANK_EXEC = Path(__file__).with_name("rank_exec.py")


@dataclass(frozen=True)
class LaunchOptions:
    python: str
    processes_per_host: int | None = None
    master_port: int | None = None
    search_path: str | None = None  # PATH used to find launchers; None = the process PATH


def distribution_of(framework: Mapping[str, Any]) -> str:
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


def find_launcher(name: str, *, python: str, search_path: str | None, needed_for: str) -> str:
    beside = Path(python).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name, path=search_path)
    if found is None:
        hint = (
            "install Open MPI (scripts/install_system_deps.sh)"
            if name == "mpirun"
            else f"install it for {python}"
        )
        raise LocalModeError(f"{name} not found on PATH (needed for {needed_for}); {hint}")
    return found


def entry_command(python: str, entry_point: str, args: Sequence[str]) -> list[str]:
    if entry_point.endswith(".py"):
        return [python, entry_point, *args]
    if entry_point.endswith(".sh"):
        return ["/bin/sh", entry_point, *args]
    return [f"./{entry_point}", *args]


def _master_port(options: LaunchOptions) -> int:
    if options.master_port is not None:
        return require_free(options.master_port, "master")
    return free_port()


def plan_launch(
    request: Mapping[str, Any],
    layout: JobLayout,
    host_envs: Mapping[str, dict[str, str]],
    options: LaunchOptions,
) -> tuple[str, list[ProcessSpec]]:
    """(distribution, processes to start) for this job."""
    algorithm = request.get("AlgorithmSpecification", {})
    container = [*algorithm.get("ContainerEntrypoint", ()), *algorithm.get("ContainerArguments", ())]
    if container:
        # ContainerEntrypoint replaces the image's entry point and ContainerArguments its `train`
        # argument (a DLC's entry point runs its arguments): that command runs on every host,
        # with the same SM_* environment, instead of the toolkit's launch.
        return "container_entry_point", [
            ProcessSpec(host=t.name, argv=container, env=host_envs[t.name], cwd=t.code_dir, name="container")
            for t in layout.hosts
        ]
    hps = decode_hyperparameters(request.get("HyperParameters", {}))
    user, sagemaker, framework = split_hyperparameters(hps)
    entry = sagemaker.get("sagemaker_program")
    if not entry:
        raise LocalModeError(
            "the request has no sagemaker_program hyperparameter; local mode runs script-mode jobs"
        )
    args = user_args(user)
    distribution = distribution_of(framework)
    per_host = int(
        framework.get("sagemaker_mpi_num_of_processes_per_host") or options.processes_per_host or 1
    )
    hosts = list(layout.hosts)
    command = entry_command(options.python, str(entry), args)

    if distribution == "torch_distributed":
        return distribution, _torchrun_specs(hosts, host_envs, options, per_host, command)
    if distribution in {"pytorchddp", "smdistributed", "mpi"}:
        return distribution, _mpi_family_specs(
            distribution, framework, layout, host_envs, options, per_host, command
        )
    if distribution in {"parameter_server", "multi_worker_mirrored_strategy"}:
        # What SageMaker's TensorFlow toolkit does (TF_CONFIG, a ps server per host): tf_cluster.
        return distribution, tf_config_specs(distribution, hosts, host_envs, command, python=options.python)

    return distribution, [
        ProcessSpec(host=t.name, argv=list(command), env=host_envs[t.name], cwd=t.code_dir, name="python")
        for t in hosts
    ]


def _torchrun_specs(
    hosts: Sequence[HostTree],
    host_envs: Mapping[str, dict[str, str]],
    options: LaunchOptions,
    per_host: int,
    command: list[str],
) -> list[ProcessSpec]:
    """One torchrun per host, each its node rank, all meeting at one master port."""
    torchrun = find_launcher(
        "torchrun", python=options.python, search_path=options.search_path, needed_for="torch_distributed"
    )
    port = _master_port(options)
    specs = []
    for index, tree in enumerate(hosts):
        argv = [
            torchrun,
            "--nnodes",
            str(len(hosts)),
            "--nproc_per_node",
            str(per_host),
            "--master_addr",
            LOOPBACK,
            "--master_port",
            str(port),
            "--node_rank",
            str(index),
            *command[1:],
        ]  # torchrun starts the script with its own interpreter
        specs.append(
            ProcessSpec(
                host=tree.name, argv=argv, env=host_envs[tree.name], cwd=tree.code_dir, name="torchrun"
            )
        )
    return specs


def _mpi_family_specs(
    distribution: str,
    framework: Mapping[str, Any],
    layout: JobLayout,
    host_envs: Mapping[str, dict[str, str]],
    options: LaunchOptions,
    per_host: int,
    command: list[str],
) -> list[ProcessSpec]:
    """One mpirun over the training hosts, and the entry point alone on every other host.

    Heterogeneous cluster (sagemaker-training's trainer.py): the training groups' hosts are
    mpirun's, every other group's host runs the entry point as one process."""
    hosts = list(layout.hosts)
    training = _distribution_hosts(host_envs) or [t.name for t in hosts]
    ranked = JobLayout(layout.root, tuple(t for t in hosts if t.name in training))
    return [
        _mpirun_spec(distribution, framework, ranked, host_envs, options, per_host, command),
        *(
            ProcessSpec(host=t.name, argv=list(command), env=host_envs[t.name], cwd=t.code_dir, name="python")
            for t in hosts
            if t.name not in training
        ),
    ]


def _distribution_hosts(host_envs: Mapping[str, dict[str, str]]) -> list[str]:
    """SM_TRAINING_ENV's distribution_hosts (the same on every host), or [] when not set."""
    for env in host_envs.values():
        if "SM_TRAINING_ENV" in env:
            return list(json.loads(env["SM_TRAINING_ENV"]).get("distribution_hosts") or [])
    return []


# Told to stop, mpirun SIGTERMs the ranks odls_base_sigkill_timeout seconds later and SIGKILLs them
# as long again after; Open MPI's default (1 s) cuts a rank's checkpoint short. The Horovod image
# sets the same value (training_code/horovod/Dockerfile; tests/training/test_image_contract.py holds
# them equal). Local mode's stop_all signals the ranks itself (dtrain/local/processes.py).
MPI_SIGKILL_TIMEOUT_SECONDS = 30


def _mpirun_spec(
    distribution: str,
    framework: Mapping[str, Any],
    layout: JobLayout,
    host_envs: Mapping[str, dict[str, str]],
    options: LaunchOptions,
    per_host: int,
    command: list[str],
) -> ProcessSpec:
    mpirun = find_launcher(
        "mpirun", python="/nonexistent/python", search_path=options.search_path, needed_for=distribution
    )
    hosts = [t.name for t in layout.hosts]
    total = per_host * len(hosts)
    launch_dir = layout.launch_dir
    (launch_dir / "hosts.json").write_text(json.dumps(hosts))
    for name, env in host_envs.items():
        (launch_dir / f"{name}.env.json").write_text(json.dumps(env))
    hostfile = launch_dir / "hostfile"
    # Every simulated host is this machine: one line holding all their slots.
    ranges = ", ".join(f"{h}: ranks {i * per_host}-{(i + 1) * per_host - 1}" for i, h in enumerate(hosts))
    hostfile.write_text(f"# simulated hosts ({ranges})\nlocalhost slots={total}\n")
    custom = str(
        framework.get("sagemaker_mpi_custom_mpi_options")
        or framework.get("sagemaker_distributed_dataparallel_custom_mpi_options")
        or ""
    )
    argv = [
        mpirun, "--hostfile", str(hostfile), "-np", str(total),
        "--allow-run-as-root", "--oversubscribe", "--tag-output",
        "--bind-to", "none", "--map-by", "slot",
        "-mca", "pml", "ob1", "-mca", "btl", "^openib",
        "-mca", "btl_tcp_if_include", "lo", "-mca", "oob_tcp_if_include", "lo",
        "-mca", "orte_abort_on_non_zero_status", "1",
        "-mca", "btl_vader_single_copy_mechanism", "none",
        "-mca", "odls_base_sigkill_timeout", str(MPI_SIGKILL_TIMEOUT_SECONDS),
        *shlex.split(custom),
        options.python, str(RANK_EXEC), str(launch_dir), str(per_host), "--", *_mpi4py_rank(command),
    ]  # fmt: skip
    env = dict(host_envs[hosts[0]])
    if distribution in {"pytorchddp", "smdistributed"}:
        # The PyTorch containers give DDP-over-MPI scripts the master's address and a port.
        env.update({"MASTER_ADDR": LOOPBACK, "MASTER_PORT": str(_master_port(options))})
        for host_env in host_envs.values():
            host_env.update({"MASTER_ADDR": env["MASTER_ADDR"], "MASTER_PORT": env["MASTER_PORT"]})
        for name, host_env in host_envs.items():
            (launch_dir / f"{name}.env.json").write_text(json.dumps(host_env))
    return ProcessSpec(
        host=hosts[0],
        argv=argv,
        env=env,
        cwd=layout.hosts[0].code_dir,
        rank_hosts=[h for h in hosts for _ in range(per_host)],
        name="mpirun",
    )


def _mpi4py_rank(command: list[str]) -> list[str]:
    """A rank's command as the toolkit's MPI runners build it (`python -m mpi4py script ...`:
    an uncaught exception in one rank aborts the whole job instead of hanging the others)."""
    python, *rest = command
    if not rest or not rest[0].endswith(".py"):
        return command
    found = subprocess.run(
        [python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('mpi4py') is None)"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        raise LocalModeError(
            f"mpi4py is not installed for {python}: SageMaker's toolkit starts every MPI rank as "
            "`python -m mpi4py <script>` (the images install it); pip install mpi4py"
        )
    return [python, "-m", "mpi4py", *rest]
