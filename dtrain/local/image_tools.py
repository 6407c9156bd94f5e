"""The external commands a packaged image holds: local mode's PATH holds exactly those.

The toolkits shell out to commands (the TensorFlow toolkit's parameter-server hosts run `curl`,
the MPI runners `mpirun` and `/usr/sbin/sshd`, the entry script `bash`). A command this machine
has and the image lacks would let a job pass here and fail on SageMaker, so the chain's PATH is a
directory of links to this machine's copies of the image's commands only, after the toolkit's own
interpreter directory (`train`, `python`, `torchrun`).

The inventory is derived, not listed by hand per image: the commands of the image's base (from
its documented Dockerfile or package manifest, cited below) plus those of every Debian package
its own Dockerfile's `apt-get install` lines name (training_code/<image>/Dockerfile).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from dtrain.local.config import training_code_dir
from dtrain.local.image_facts import read_image_facts

# Ubuntu 22.04's container image (the base of both our images' bases): essential packages only
# (coreutils, bash, dash, grep, sed, mawk, findutils, tar, gzip, hostname, util-linux, procps is
# NOT among them), per its package manifest
# (https://cloud-images.ubuntu.com/releases/jammy/release/ubuntu-22.04-server-cloudimg-amd64-root.manifest
# lists the server image; the OCI base is its minimal subset: https://hub.docker.com/_/ubuntu).
UBUNTU_2204 = (
    "bash", "sh", "dash", "env", "cat", "cp", "mv", "rm", "ln", "ls", "mkdir", "rmdir", "chmod",
    "chown", "touch", "echo", "printf", "test", "[", "true", "false", "sleep", "head", "tail",
    "sort", "uniq", "tr", "cut", "wc", "tee", "id", "date", "dirname", "basename", "readlink",
    "realpath", "mktemp", "uname", "nproc", "stat", "du", "df", "seq", "expr", "yes", "timeout",
    "nohup", "whoami", "grep", "egrep", "fgrep", "sed", "awk", "mawk", "find", "xargs", "tar",
    "gzip", "gunzip", "zcat", "hostname", "mount", "umount", "kill", "setsid", "which", "diff", "cmp",
    "apt-get", "dpkg",
)  # fmt: skip
# nvidia/cuda's ubuntu2204 images install curl only to fetch NVIDIA's apt keyring and purge it
# in the same layer ("apt-get purge --autoremove -y curl",
# https://gitlab.com/nvidia/container-images/cuda/-/blob/master/dist/11.8.0/ubuntu2204/base/Dockerfile):
# the horovod image starts without curl.
NVIDIA_CUDA_DEVEL = (*UBUNTU_2204, "nvcc", "gcc", "g++", "cc", "c++", "make", "ld", "as")
# The SageMaker PyTorch training DLC (the ddp image's base):
# https://github.com/aws/deep-learning-containers/blob/master/pytorch/training/docker/2.5/py3/cu124/Dockerfile.gpu
# installs build-essential, cmake, curl, git, jq, unzip, vim, wget, openssh-client/-server, Open
# MPI (/opt/amazon/openmpi, mpirun wrapped with --allow-run-as-root) and conda's Python.
PYTORCH_DLC = (
    *NVIDIA_CUDA_DEVEL, "cmake", "curl", "git", "jq", "unzip", "vim", "wget", "ssh", "scp",
    "ssh-keygen", "sshd", "mpirun", "mpiexec", "orted", "orterun", "ompi_info",
)  # fmt: skip
BASE_IMAGES = (
    (re.compile(r"/pytorch-training:"), PYTORCH_DLC),
    (re.compile(r"^nvidia/cuda:.*-devel-ubuntu22\.04"), NVIDIA_CUDA_DEVEL),
)

# Debian/Ubuntu package -> the commands it puts on PATH (those a job may call).
PACKAGE_COMMANDS: dict[str, tuple[str, ...]] = {
    "curl": ("curl",),
    "wget": ("wget",),
    "git": ("git",),
    "cmake": ("cmake",),
    "build-essential": ("gcc", "g++", "cc", "c++", "make"),
    "openmpi-bin": ("mpirun", "mpiexec", "orted", "orterun", "ompi_info"),
    "openssh-client": ("ssh", "scp", "ssh-keygen"),
    "openssh-server": ("sshd",),
    "tini": ("tini",),
    "iproute2": ("ip",),
    "procps": ("ps", "pkill", "pgrep"),
}
_APT_INSTALL = re.compile(r"apt-get\s+install\s+((?:[^&;|]|\\\n)*)")


def _base_commands(dockerfile: str) -> tuple[str, ...]:
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    base = bases[-1] if bases else ""
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S*)", dockerfile, flags=re.MULTILINE))
    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), base)
    for pattern, commands in BASE_IMAGES:
        if pattern.search(base):
            return commands
    return UBUNTU_2204


def installed_packages(image: str, root: Path | None = None) -> list[str]:
    """The Debian packages the image's final stage installs with apt-get."""
    packages: list[str] = []
    for run in read_image_facts(image, root).runs:
        for match in _APT_INSTALL.finditer(run):
            packages.extend(w for w in match.group(1).split() if not w.startswith("-"))
    return packages


def image_commands(image: str, root: Path | None = None) -> set[str]:
    dockerfile = ((root or training_code_dir()) / image / "Dockerfile").read_text()
    commands = set(_base_commands(dockerfile))
    for package in installed_packages(image, root):
        commands.update(PACKAGE_COMMANDS.get(package, ()))
    return commands


def image_bin(image: str, directory: Path, *, search_path: str | None = None) -> Path:
    """`directory`, filled with links to this machine's copies of the image's commands (those
    this machine has); the chain's PATH puts it after the toolkit interpreter's directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for command in sorted(image_commands(image)):
        found = shutil.which(command, path=search_path)
        link = directory / command
        if found is not None and not link.exists():
            link.symlink_to(found)
    return directory
