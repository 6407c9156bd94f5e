"""A packaged image's real entry chain, started on this machine as a container would start it.

The chain is the image's own: PID 1 is the Dockerfile's ENTRYPOINT (tini -g, then
training_code/container/entrypoint.sh), its argument `train` (the SageMaker training toolkit's
console script, with the framework toolkit the image's environment names), then the launcher the
toolkit picks (torchrun, mpirun, or the script itself) and the ranks. What a container has and
this machine lacks is given by Linux namespaces (we run as root):

- a PID namespace, so tini really is PID 1 and a signal to it is what StopTrainingJob sends;
- a UTS namespace with the SageMaker host name (algo-1), and a mount namespace in which a hosts
  file naming it is bound over /etc/hosts (the toolkit resolves every host before training);
- a network namespace with only loopback, so the toolkit's fixed ports (torchrun's 7777) are
  the namespace's own and never collide with another test.

The scratch /opt/ml is SAGEMAKER_BASE_DIR, as the toolkit and our trainers read it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from dtrain.local.config import training_code_dir
from dtrain.local.container_config import write_container_config
from dtrain.local.errors import LocalModeError
from dtrain.local.image_facts import read_image_facts
from dtrain.local.layout import JobLayout
from dtrain.local.platform import local_platform_settings
from dtrain.request import build_training_job_request
from dtrain.spec import parse_spec

ENTRYPOINT_IN_IMAGE = "/opt/dtrain/entrypoint.sh"
# What the SageMaker PyTorch DLC's own Dockerfile sets (our ddp image inherits it): `train` hands
# over to the PyTorch toolkit, which picks torchrun / mpirun / SMDDP from the distribution.
DLC_ENVIRONMENT = {"ddp": {"SAGEMAKER_TRAINING_MODULE": "sagemaker_pytorch_container.training:main"}}


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise LocalModeError(f"{tool} not found: install it (scripts/install_system_deps.sh)")
    return found


def chain_argv(image: str, *, hostname: str, hosts_file: Path) -> list[str]:
    """unshare + the namespace set-up + the image's ENTRYPOINT and CMD, with the entry script
    taken from the repository instead of the image's copy."""
    facts = read_image_facts(image)
    entry = [str(training_code_dir() / "container" / "entrypoint.sh") if word == ENTRYPOINT_IN_IMAGE else word
             for word in facts.entrypoint]  # fmt: skip
    if entry and entry[0] == "/usr/bin/tini":
        entry[0] = _require("tini")
    setup = f'ip link set lo up && mount --bind {hosts_file} /etc/hosts && hostname {hostname} && exec "$@"'
    return [
        _require("unshare"), "--fork", "--kill-child", "--pid", "--mount-proc", "--uts", "--net",
        "/bin/bash", "-c", setup, "namespace-setup", *entry, *facts.cmd,
    ]  # fmt: skip


def start_chain(
    image: str,
    base_dir: Path,
    *,
    toolkit_bin: Path,
    hostname: str = "algo-1",
    hosts: Sequence[str] = ("algo-1",),
    extra_env: Mapping[str, str] | None = None,
    output: IO[str] | None = None,
) -> subprocess.Popen[str]:
    """Starts the chain for one host; `toolkit_bin` holds `train` and the Python it runs."""
    hosts_file = base_dir.parent / f"hosts.{hostname}"
    hosts_file.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in hosts))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_", "PYTHON"))}
    env = {
        **inherited,
        **read_image_facts(image).env,
        **DLC_ENVIRONMENT.get(image, {}),
        "PATH": f"{toolkit_bin}:{inherited.get('PATH', '/usr/bin:/bin')}",
        "SAGEMAKER_BASE_DIR": str(base_dir),
        **(extra_env or {}),
    }
    return subprocess.Popen(
        chain_argv(image, hostname=hostname, hosts_file=hosts_file),
        env=env,
        stdout=output or subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def namespace_init_pid(unshare: subprocess.Popen[str]) -> int:
    """The host PID of the namespace's PID 1 (unshare --fork's only child)."""
    children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
    if len(children) != 1:
        raise LocalModeError(f"unshare {unshare.pid} has children {children}, expected one")
    return int(children[0])


def prepare_host_tree(
    workdir: Path, spec_data: Mapping[str, Any], *, ranks: int, data: Path, in_image: bool = False
) -> Path:
    """One host's scratch /opt/ml for the spec, as SageMaker writes it, with the image's baked code
    (/opt/dtrain/code in the image; a scratch copy here unless `in_image`, for a real container)
    and `data` as every channel. Returns the SAGEMAKER_BASE_DIR."""
    spec = parse_spec(spec_data)
    image = str(spec.estimator.image_uri)
    request = build_training_job_request(spec, local_platform_settings())
    hyperparameters = request["HyperParameters"]
    if not in_image:
        baked = workdir / "opt-dtrain-code"
        ignore = shutil.ignore_patterns("Dockerfile", "__pycache__")
        shutil.copytree(training_code_dir() / image, baked, ignore=ignore)
        shutil.copytree(training_code_dir() / "common", baked / "common", ignore=ignore)
        hyperparameters["sagemaker_submit_directory"] = json.dumps(str(baked))
    # Ranks per host: the toolkit's default is the GPU count (none here); this is its override.
    hyperparameters["sagemaker_mpi_num_of_processes_per_host"] = json.dumps(ranks)
    layout = JobLayout.for_job(workdir, str(request["TrainingJobName"]), 1)
    layout.reset()
    tree = layout.hosts[0]
    write_container_config(request, tree, [tree.name])
    for channel in request.get("InputDataConfig", []):
        target = tree.channel_dir(str(channel["ChannelName"]))
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(data, target)
    shutil.rmtree(tree.code_dir, ignore_errors=True)  # /opt/ml/code: empty in the image
    return tree.base


def small_job(image: str, distribution: str | None) -> dict[str, Any]:
    """A spec for the chain: one host, tiny model, a metric line per step, checkpoints only at
    SIGTERM (so the checkpoint on disk is the signal's)."""
    estimator: dict[str, Any] = {
        "entry_point": "train_ddp.py" if image == "ddp" else "train_hvd_torch.py",
        "image_uri": image,
        "instance_type": "ml.g5.xlarge",
        "instance_count": 1,
        "hyperparameters": {
            "epochs": 1000,
            "batch_size": 32,
            "width": 8,
            "log_every_steps": 1,
            "checkpoint_every_steps": 0,
        },
    }
    if distribution is not None:
        estimator["distribution"] = {distribution: {"enabled": True}}
    return {
        "framework": "pytorch",
        "job_name": "entry-chain",
        "estimator": estimator,
        "inputs": {"train": "s3://dtrain-example-data/cifar10/train"},
    }


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m dtrain.local.entry_chain IMAGE DISTRIBUTION RANKS DATA WORKDIR`: writes the job's
    /opt/ml for a real container of IMAGE (scripts/build_images.sh mounts it) and prints its path."""
    import sys

    image, distribution, ranks, data, workdir = list(argv if argv is not None else sys.argv[1:])
    spec = small_job(image, None if distribution == "none" else distribution)
    print(prepare_host_tree(Path(workdir), spec, ranks=int(ranks), data=Path(data), in_image=True))


if __name__ == "__main__":
    main()
