"""What this machine lets local mode give a simulated host, decided at one point per job.

A SageMaker instance runs the image as a container: its own PID 1, host name, /etc/hosts, /opt/ml,
/tmp and network. Local mode gives each host the same with Linux namespaces
(dtrain/local/entry_chain.py), made with util-linux's `unshare`:

- as root (CI here), every namespace, and for several hosts one network namespace each on a
  private bridge (`ip netns`, dtrain/local/host_network.py);
- as another user where the kernel allows unprivileged user namespaces, the same namespaces
  inside a user namespace that maps the user to root (`unshare --user --map-root-user`, as
  rootless container tools do) for one host; several hosts are refused, as `ip netns` (their
  bridge) needs root on the machine;
- with no namespaces at all (a kernel or user that may create none), one host still runs the
  image's real chain, as a plain process tree on this machine's network and host name, and
  several hosts are refused. Its host name (algo-1) resolves nowhere then, so the container gets
  SM_STUDIO_LOCAL_MODE=True: the SageMaker SDK's local mode sets it in SageMaker Studio, where
  containers have no algo-N name either (sagemaker-python-sdk, sagemaker/local/image.py), and the
  training toolkit then skips its wait for every host name to resolve
  (sagemaker_training/entry_point.py `run`; the PyTorch toolkit's `train` reads it too).

What is missing is said in one line: the refusal of a multi-host job, or the notice a one-host
job prints before it starts (`Isolation.notice`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dtrain.local.errors import LocalModeError

# The namespaces of a host's chain (entry_chain.chain_argv): PID 1 of its own, its host name, its
# mounts (/etc/hosts, /opt/ml, /tmp); --net is added where the host gets a network of its own.
HOST_NAMESPACES = ("--fork", "--kill-child", "--pid", "--mount-proc", "--uts")
# Unprivileged: a user namespace in which this user is root, owning the namespaces above.
USER_NAMESPACE = ("--user", "--map-root-user")
OPT_ML = Path("/opt/ml")
# The commands the namespaces are made with, and what installs them.
TOOLS = (("ip", "iproute2's ip"), ("unshare", "util-linux's unshare"))
INSTALL = "scripts/install_system_deps.sh"
# Set in the container when no namespace can give it its host name (see the module's docstring).
NO_HOST_NAMES_ENV = {"SM_STUDIO_LOCAL_MODE": "True"}


@dataclass(frozen=True)
class Isolation:
    """`unshare` flags for a host's chain (empty: no namespaces, the chain runs as it is),
    whether a host gets a network namespace of its own, why several hosts cannot run (None when
    they can) and why one host gets less than a container (None when it gets all)."""

    unshare_flags: tuple[str, ...]
    own_network: bool
    several_hosts_missing: str | None
    one_host_missing: str | None

    @property
    def namespaces(self) -> bool:
        return bool(self.unshare_flags)

    @property
    def container_env(self) -> dict[str, str]:
        """What the container's environment gets for want of namespaces."""
        return {} if self.namespaces else dict(NO_HOST_NAMES_ENV)

    def refuse(self, hosts: int) -> None:
        """A multi-host job this machine cannot isolate: a one-line refusal naming what is missing."""
        if hosts > 1 and self.several_hosts_missing is not None:
            raise LocalModeError(
                f"{hosts} simulated hosts need a network namespace each and {self.several_hosts_missing}; "
                "run with --hosts 1 (one host runs without one)"
            )

    def notice(self, host: str) -> str | None:
        """One line for a one-host job that runs with less than a container has (None otherwise)."""
        if self.one_host_missing is None:
            return None
        if not self.namespaces:
            return (
                f"no namespaces for {host} ({self.one_host_missing}): the image's chain runs on this "
                f"machine's network and host name, {host} resolves nowhere (SM_STUDIO_LOCAL_MODE=True)"
            )
        return f"no network namespace for {host} ({self.one_host_missing}): it runs on this machine's network"


# Everything, as root on a kernel with every namespace (CI): the chain's own tests start it so.
AS_ROOT = Isolation(HOST_NAMESPACES, own_network=True, several_hosts_missing=None, one_host_missing=None)


def _refusal(flags: Sequence[str]) -> str | None:
    """Why `unshare FLAGS true` fails here (None when it succeeds)."""
    probe = subprocess.run(["unshare", *flags, "true"], capture_output=True, text=True, check=False)
    return None if probe.returncode == 0 else (probe.stderr.strip() or f"exit {probe.returncode}")


def detect_isolation() -> Isolation:
    """The one detection point: what `unshare` (and `ip`) can make here, tried, not assumed."""
    tools = [name for tool, name in TOOLS if shutil.which(tool) is None]
    if "util-linux's unshare" in tools:
        absent = f"{' and '.join(tools)} {'are' if len(tools) > 1 else 'is'} not installed ({INSTALL})"
        return Isolation((), own_network=False, several_hosts_missing=absent, one_host_missing=absent)
    root = os.geteuid() == 0
    base = (*(() if root else USER_NAMESPACE), *HOST_NAMESPACES)
    refused = _refusal(base)
    missing = None if refused is None else f"this kernel or user may not create namespaces ({refused})"
    if missing is None and not root and not OPT_ML.is_dir() and not os.access(OPT_ML.parent, os.W_OK):
        # The host's tree is mounted at /opt/ml (the toolkit reads fixed paths there); a mount
        # needs a folder to cover, and only root can make this one.
        missing = f"{OPT_ML} does not exist and only root can create it (sudo mkdir {OPT_ML} once)"
    if missing is not None:
        return Isolation((), own_network=False, several_hosts_missing=missing, one_host_missing=missing)
    if tools:
        missing = f"iproute2's ip is not installed ({INSTALL})"
        return Isolation(base, own_network=False, several_hosts_missing=missing, one_host_missing=missing)
    refused = _refusal((*base, "--net"))
    if refused is not None:
        missing = f"this kernel or user may not create network namespaces ({refused})"
        return Isolation(base, own_network=False, several_hosts_missing=missing, one_host_missing=missing)
    several = None if root else f"ip netns (their private bridge) needs root, and this is uid {os.geteuid()}"
    return Isolation(base, own_network=True, several_hosts_missing=several, one_host_missing=None)
