"""A packaged image's real entry chain, started on this machine as a container would start it.

The chain is the image's own: PID 1 is the Dockerfile's ENTRYPOINT (tini -g, then
training_code/container/entrypoint.sh), its argument `train` (the SageMaker training toolkit's
console script, with the framework toolkit the image's environment names), then the launcher the
toolkit picks (torchrun, mpirun, or the script itself) and the ranks. What a container has and
this machine lacks is given by Linux namespaces (we run as root):

- a PID namespace, so tini really is PID 1 and a signal to it is what StopTrainingJob sends;
- a UTS namespace with the SageMaker host name (algo-1), and a mount namespace in which a hosts
  file naming it is bound over /etc/hosts (the toolkit resolves every host before training);
- a network namespace with loopback and an `eth0` (a veth pair inside the namespace: the MPI
  runners pin mpirun to SageMaker's interface name, `-mca btl_tcp_if_include eth0`), so the
  toolkit's fixed ports (torchrun's 7777) are the namespace's own and never collide;
- /opt/ml itself: the scratch tree is bound over /opt/ml in the mount namespace, because the
  toolkit reads fixed paths there (its gethostname.so, which the MPI runners LD_PRELOAD into every
  rank, opens /opt/ml/input/config/resourceconfig.json and crashes without it);
- the image's commands only on PATH (dtrain/local/image_tools.py), after the toolkit interpreter's
  directory: a command the image lacks fails here as it would on SageMaker.

The scratch /opt/ml is also SAGEMAKER_BASE_DIR, as the toolkit and our trainers read it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from dtrain.jobspec.spec import parse_spec
from dtrain.local.config import repo_root, training_code_dir
from dtrain.local.container_config import write_container_config
from dtrain.local.errors import LocalModeError
from dtrain.local.host_network import HostNetwork
from dtrain.local.image_facts import read_image_facts
from dtrain.local.image_tools import image_bin
from dtrain.local.isolation import AS_ROOT, Isolation
from dtrain.local.layout import JobLayout
from dtrain.local.platform import local_platform_settings
from dtrain.requests.training_request import build_training_job_request

ENTRYPOINT_IN_IMAGE = "/opt/dtrain/entrypoint.sh"
# What the SageMaker PyTorch DLC's own Dockerfile sets (our ddp image inherits it): `train` hands
# over to the PyTorch toolkit, which picks torchrun / mpirun / SMDDP from the distribution.
TF_DISTRIBUTIONS = ("parameter_server", "multi_worker_mirrored_strategy")
DLC_ENVIRONMENT = {"ddp": {"SAGEMAKER_TRAINING_MODULE": "sagemaker_pytorch_container.training:main"}}


# Where the images' stand-in virtualenvs live when dtrain is installed rather than run from its
# checkout (they are built by `make setup`, not pip): a folder holding .venv-toolkit and .venv-hvd.
IMAGE_VENVS_ENV = "DTRAIN_IMAGE_VENVS"


def _image_venv(name: str) -> Path:
    """`name` (.venv-toolkit, .venv-hvd) in DTRAIN_IMAGE_VENVS, else beside the main .venv: in a
    clone that is the clone itself; a git worktree whose .venv links to another checkout's shares
    that checkout's virtualenvs."""
    chosen = os.environ.get(IMAGE_VENVS_ENV)
    if chosen:
        return Path(chosen) / name
    own = repo_root() / name
    return own if own.exists() else (repo_root() / ".venv").resolve().parent / name


def toolkit_venv() -> Path:
    """.venv-toolkit (Makefile): the ddp image's toolkit and frameworks."""
    return _image_venv(".venv-toolkit")


def image_toolkit_bin(image: str) -> Path:
    """The directory of the interpreter that stands in for the image's: its `train` (the
    SageMaker training toolkit at the image's version), its framework toolkit and frameworks.
    ddp: .venv-toolkit (sagemaker-training 5 + the PyTorch toolkit + torch); horovod: .venv-hvd
    (TensorFlow, torch, Horovod, sagemaker-training 4.8.3 + the TensorFlow toolkit, as the
    image's Dockerfile pins them)."""
    return _image_venv(".venv-hvd" if image == "horovod" else ".venv-toolkit") / "bin"


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise LocalModeError(f"{tool} not found: install it (scripts/install_system_deps.sh)")
    return found


def _with_its_venv(path: Path) -> Path:
    """A PATH entry, or the whole virtualenv when it is one's bin/: its interpreter needs its
    lib/ too (an installed dtrain's image venvs, DTRAIN_IMAGE_VENVS, may live under /tmp, outside
    every other folder kept visible: 'No module named sagemaker_training' in CI's fresh clone)."""
    return path.parent if (path.parent / "pyvenv.cfg").is_file() else path


# The machine's /tmp once a host's own covers it: descriptor 9 of the set-up (see _own_files_steps).
MACHINE_TMP = "/proc/self/fd/9"


def _own_files_steps(
    hostname: str,
    hosts_file: Path,
    base_dir: Path,
    image_path: str,
    ssh_dir: Path | None,
    visible: Sequence[Path],
) -> list[str]:
    """The mounts that give a host its own /etc/hosts, /etc/environment, /opt/ml and /tmp (and
    its ssh keys), keeping what must stay visible under /tmp; makes the host's private folder."""
    private = base_dir.parent / f"private.{hostname}"
    (private / "tmp").mkdir(parents=True, exist_ok=True)
    (private / "environment").write_text("")
    # The repository (the entry script, the training code) and the chain's PATH stay visible too
    # when they live under /tmp, as a clone made by mktemp does (CI's fresh clone).
    code = [
        training_code_dir().parent,
        *(_with_its_venv(Path(p)) for p in image_path.split(":") if p.startswith("/")),
    ]
    keep = sorted({str(p) for p in (base_dir.parent, *code, *visible, *([ssh_dir] if ssh_dir else []))})
    steps = [
        f"mount --bind {hosts_file} /etc/hosts && mount --bind {private / 'environment'} /etc/environment",
        f"mkdir -p /opt/ml && mount --bind {base_dir} /opt/ml",
        # The machine's /tmp stays reachable through descriptor 9 once the host's own is mounted
        # over it: a path under /proc/self/fd/9 is looked up from the directory the descriptor
        # holds (no folder to make outside /tmp, which a non-root user could not make in /run).
        "exec 9</tmp",
        f"mount --bind {private / 'tmp'} /tmp",
        *(
            f"mkdir -p {path} && mount --no-canonicalize --bind {MACHINE_TMP}/{relative} {path}"
            for path in keep
            if Path(path).is_relative_to("/tmp")
            for relative in [Path(path).relative_to("/tmp")]
        ),
        "exec 9<&-",
    ]
    if ssh_dir is not None:
        # The job's own key pair and sshd's privilege-separation directory, as the images have.
        steps += [f"mkdir -p /root/.ssh /run/sshd && mount --bind {ssh_dir} /root/.ssh"]
    return steps


def chain_argv(
    image: str,
    *,
    hostname: str,
    hosts_file: Path,
    base_dir: Path,
    image_path: str,
    network: HostNetwork | None = None,
    ssh_dir: Path | None = None,
    visible: Sequence[Path] = (),
    isolation: Isolation = AS_ROOT,
    entrypoint: Sequence[str] | None = None,
    arguments: Sequence[str] | None = None,
) -> list[str]:
    """unshare + the namespace set-up + the image's ENTRYPOINT and CMD, with the entry script
    taken from the repository instead of the image's copy; `image_path` is the chain's PATH.
    With `network`, the host joins its namespace there (dtrain/local/host_network.py); without,
    it gets a network namespace of its own with loopback and an unconnected eth0, or, where
    `isolation` (dtrain/local/isolation.py) has none for it (one host), the machine's network;
    with no namespaces at all, the chain runs as it is, under the machine's host name.
    `entrypoint` and `arguments` replace the image's ENTRYPOINT and CMD as the request's
    ContainerEntrypoint and ContainerArguments do (Docker's rule: a new ENTRYPOINT drops the CMD).

    Each host also gets its own /tmp and /etc/environment, as a container has: the toolkit's MPI
    worker appends its whole environment to /etc/environment, and the master tells a worker that
    mpirun finished by `ssh algo-2 touch /tmp/done.algo-1`, which on a shared /tmp would end a
    later job's worker at once. `visible` (and the host's own job directory) stay where they
    are inside the fresh /tmp."""
    facts = read_image_facts(image)
    entry = [str(training_code_dir() / "container" / "entrypoint.sh") if word == ENTRYPOINT_IN_IMAGE else word
             for word in facts.entrypoint]  # fmt: skip
    if entry and entry[0] == "/usr/bin/tini":
        entry[0] = _require("tini")
    cmd = list(facts.cmd if arguments is None else arguments)
    if entrypoint is not None:
        entry, cmd = list(entrypoint), list(arguments or ())
    if not isolation.namespaces:
        return ["/bin/bash", "-c", 'PATH="$1" && shift && exec "$@"', "chain", image_path, *entry, *cmd]
    own_network = isolation.own_network
    steps = []
    if network is None and own_network:
        steps += [
            "ip link set lo up && ip link add eth0 type veth peer name eth0-peer",
            "ip addr add 10.254.0.1/24 dev eth0 && ip link set eth0 up && ip link set eth0-peer up",
        ]
    steps += _own_files_steps(hostname, hosts_file, base_dir, image_path, ssh_dir, visible)
    steps += [f'hostname {hostname} && PATH="$1" && shift && exec "$@"']
    namespaces = ["--net"] if network is None and own_network else []
    joined = [] if network is None else [_require("ip"), "netns", "exec", network.namespace(hostname)]
    return [
        *joined, _require("unshare"), *isolation.unshare_flags, *namespaces,
        "/bin/bash", "-c", " && ".join(steps), "namespace-setup", image_path, *entry, *cmd,
    ]  # fmt: skip


def job_ssh_dir(directory: Path) -> Path:
    """A key pair for one job, authorized on every host of it, no host-key prompts: what the
    images set up at build time for the toolkit's MPI runners (ssh from the master to workers)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key = directory / "id_ed25519"
    if not key.exists():
        subprocess.run(
            [_require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
        )
    (directory / "authorized_keys").write_text((directory / "id_ed25519.pub").read_text())
    (directory / "config").write_text("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n")
    for name in ("authorized_keys", "config"):
        (directory / name).chmod(0o600)
    return directory


def _submit_directory(base_dir: Path) -> list[Path]:
    """The job's code folder when it is a local path (the toolkit copies it to /opt/ml/code)."""
    config = base_dir / "input" / "config" / "hyperparameters.json"
    raw = json.loads(config.read_text()).get("sagemaker_submit_directory") if config.is_file() else None
    where = json.loads(raw) if raw else ""
    return [Path(where)] if where.startswith("/") else []


def chain_command(
    image: str,
    base_dir: Path,
    *,
    toolkit_bin: Path,
    hostname: str = "algo-1",
    hosts: Sequence[str] = ("algo-1",),
    environ: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    network: HostNetwork | None = None,
    isolation: Isolation = AS_ROOT,
    ssh_dir: Path | None = None,
    visible: Sequence[Path] = (),
    entrypoint: Sequence[str] | None = None,
    arguments: Sequence[str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of one host's chain; `toolkit_bin` holds `train` and the Python it
    runs, `environ` (default: ours) is what the container inherits from this machine, and
    `extra_env` the request's Environment and local mode's own settings."""
    hosts_file = base_dir.parent / f"hosts.{hostname}"
    if network is not None:
        hosts_file.write_text(network.hosts_file())
    else:
        hosts_file.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in hosts))
    commands = image_bin(image, base_dir.parent / f"image-bin.{image}")
    image_path = f"{toolkit_bin}:{commands}"
    source = os.environ if environ is None else environ
    inherited = {k: v for k, v in source.items() if not k.startswith(("SM_", "SAGEMAKER_", "PYTHON"))}
    env = {
        **inherited,
        **read_image_facts(image).env,
        **DLC_ENVIRONMENT.get(image, {}),
        "SAGEMAKER_BASE_DIR": str(base_dir),
        **isolation.container_env,
        **(extra_env or {}),
    }
    argv = chain_argv(
        image,
        hostname=hostname,
        hosts_file=hosts_file,
        base_dir=base_dir,
        image_path=image_path,
        network=network,
        ssh_dir=ssh_dir,
        visible=[*visible, *_submit_directory(base_dir)],
        isolation=isolation,
        entrypoint=entrypoint,
        arguments=arguments,
    )
    return argv, env


def start_chain(
    image: str,
    base_dir: Path,
    *,
    toolkit_bin: Path,
    hostname: str = "algo-1",
    hosts: Sequence[str] = ("algo-1",),
    extra_env: Mapping[str, str] | None = None,
    output: IO[str] | None = None,
    network: HostNetwork | None = None,
    ssh_dir: Path | None = None,
    visible: Sequence[Path] = (),
) -> subprocess.Popen[str]:
    """Starts the chain for one host (`chain_command`), its output to `output` or a pipe."""
    argv, env = chain_command(
        image,
        base_dir,
        toolkit_bin=toolkit_bin,
        hostname=hostname,
        hosts=hosts,
        extra_env=extra_env,
        network=network,
        ssh_dir=ssh_dir,
        visible=visible,
    )
    return subprocess.Popen(
        argv,
        env=env,
        stdout=output or subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def namespace_init_pid(unshare: subprocess.Popen[Any]) -> int:
    """The host PID of the namespace's PID 1 (unshare --fork's only child); without namespaces
    (dtrain/local/isolation.py) the chain's first process itself, tini."""
    if Path(f"/proc/{unshare.pid}/comm").read_text().strip() != "unshare":
        return unshare.pid
    children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
    if len(children) != 1:
        raise LocalModeError(f"unshare {unshare.pid} has children {children}, expected one")
    return int(children[0])


def prepare_host_tree(
    workdir: Path,
    spec_data: Mapping[str, Any],
    *,
    ranks: int,
    data: Path,
    in_image: bool = False,
    code: Path | None = None,
) -> Path:
    """The first host's SAGEMAKER_BASE_DIR of `prepare_job_trees`."""
    return prepare_job_trees(workdir, spec_data, ranks=ranks, data=data, in_image=in_image, code=code)[0]


def prepare_job_trees(
    workdir: Path,
    spec_data: Mapping[str, Any],
    *,
    ranks: int,
    data: Path,
    in_image: bool = False,
    code: Path | None = None,
) -> list[Path]:
    """Each host's scratch /opt/ml for the spec, as SageMaker writes it, with the image's baked
    code (/opt/dtrain/code in the image; a scratch copy here unless `in_image`, for a real
    container), or `code` as the job's source_dir, and `data` as every channel. Returns the
    hosts' SAGEMAKER_BASE_DIRs, algo-1 first."""
    spec = parse_spec(spec_data)
    image = str(spec.estimator.image_uri)
    request = build_training_job_request(spec, local_platform_settings())
    hyperparameters = request["HyperParameters"]
    if code is not None:
        hyperparameters["sagemaker_submit_directory"] = json.dumps(str(code))
    elif not in_image:
        baked = workdir / "opt-dtrain-code"
        ignore = shutil.ignore_patterns("Dockerfile", "__pycache__")
        shutil.copytree(training_code_dir() / image, baked, ignore=ignore)
        shutil.copytree(training_code_dir() / "common", baked / "common", ignore=ignore)
        hyperparameters["sagemaker_submit_directory"] = json.dumps(str(baked))
    # Ranks per host: the toolkit's default is the GPU count (none here); this is its override.
    hyperparameters["sagemaker_mpi_num_of_processes_per_host"] = json.dumps(ranks)
    hosts = int(request["ResourceConfig"].get("InstanceCount", 1))
    layout = JobLayout.for_job(workdir, str(request["TrainingJobName"]), hosts)
    layout.reset()
    for tree in layout.hosts:
        write_container_config(request, tree, [t.name for t in layout.hosts])
        for channel in request.get("InputDataConfig", []):
            target = tree.channel_dir(str(channel["ChannelName"]))
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(data, target)
        shutil.rmtree(tree.code_dir, ignore_errors=True)  # /opt/ml/code: empty in the image
    return [tree.base for tree in layout.hosts]


def small_job(
    image: str,
    distribution: str | None,
    *,
    entry_point: str | None = None,
    hosts: int = 1,
    hyperparameters: Mapping[str, Any] | None = None,
    source_dir: Path | None = None,
) -> dict[str, Any]:
    """A spec for the chain: `hosts` hosts, tiny model, a metric line per step, checkpoints only
    at SIGTERM (so the checkpoint on disk is the signal's)."""
    estimator: dict[str, Any] = {
        "entry_point": entry_point or ("train_ddp.py" if image == "ddp" else "train_hvd_torch.py"),
        "image_uri": image,
        "instance_type": "ml.g5.xlarge",
        "instance_count": hosts,
        "hyperparameters": dict(
            hyperparameters
            if hyperparameters is not None
            else {
                "epochs": 1000,
                "batch_size": 32,
                "width": 8,
                "log_every_steps": 1,
                "checkpoint_every_steps": 0,
            }
        ),
    }
    if source_dir is not None:  # a script of the job's own (prepare_job_trees' `code`)
        estimator["source_dir"] = str(source_dir)
    if distribution is not None:
        estimator["distribution"] = {distribution: {"enabled": True}}
    tensorflow = (entry_point or "").startswith("train_tf") or distribution in TF_DISTRIBUTIONS
    if tensorflow:
        # The TF toolkit asks S3 for an s3:// model_dir's bucket region before anything runs
        # (sagemaker_tensorflow_container/s3_utils.py): the chain has no S3, so the container path
        # the SDK itself passes under MPI.
        estimator["model_dir"] = "/opt/ml/model"
        estimator["framework_version"] = "2.15"  # .venv-hvd's TensorFlow (examples/tf_*.json)
    return {
        "framework": "tensorflow" if tensorflow else "pytorch",
        "job_name": "entry-chain",
        "estimator": estimator,
        "inputs": {"train": "s3://dtrain-example-data/cifar10/train"},
    }


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m dtrain.local.entry_chain IMAGE DISTRIBUTION RANKS DATA WORKDIR`: writes the job's
    /opt/ml for a real container of IMAGE (scripts/build_images.sh mounts it) and prints its path."""

    image, distribution, ranks, data, workdir = list(argv if argv is not None else sys.argv[1:])
    spec = small_job(image, None if distribution == "none" else distribution)
    print(prepare_host_tree(Path(workdir), spec, ranks=int(ranks), data=Path(data), in_image=True))


if __name__ == "__main__":
    main()
