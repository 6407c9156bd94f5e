"""One network namespace per simulated host, joined by a private bridge: SageMaker's cluster
network for a job's hosts on this machine.

    switch namespace  dtrain-<id>-sw : bridge br0, one veth end per host, no address, no route
    host namespace    dtrain-<id>-<n>: lo + eth0 (the veth's other end) 10.254.0.<n>/24

The bridge lives in a namespace of its own, not in the machine's: no host namespace has a route
to the machine's network, so a job's traffic stays between its hosts (and each host's loopback).
Each host's hosts file names every host with its eth0 address, as SageMaker's /etc/hosts does;
`eth0` is the interface name the toolkit's MPI and NCCL settings pin (resourceconfig.json's
network_interface_name). Namespaces are made with iproute2 (`ip netns`), which needs root (CI
runs as root); `close` deletes them, and so does dtrain/local/reaper.py if dtrain dies first.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dtrain.local.errors import LocalModeError
from dtrain.local.reaper import job_namespace_prefix

__all__ = ["HostNetwork", "job_namespace_prefix", "leftover_namespaces"]

SUBNET = "10.254.0"
NETNS_DIR = Path("/run/netns")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LocalModeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")


def _ip_batch(commands: Sequence[str], *, namespace: str | None = None) -> None:
    """`commands` (ip's own syntax, one a line) in one `ip -batch` process, in `namespace`."""
    args = ["ip", *(["-n", namespace] if namespace else []), "-batch", "-"]
    done = subprocess.run(args, input="\n".join(commands) + "\n", capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = " ".join(done.stderr.split()) or f"exit {done.returncode}"
        raise LocalModeError(f"{' '.join(args[:-2])} {'; '.join(commands)}: {said}")


@dataclass
class HostNetwork:
    """The namespaces of one job's hosts; `close` removes them (idempotent)."""

    hosts: Sequence[str]
    prefix: str = field(default_factory=lambda: f"dtrain-{uuid.uuid4().hex[:8]}")
    created: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    def namespace(self, host: str) -> str:
        return f"{self.prefix}-{self.hosts.index(host) + 1}"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{self.hosts.index(host) + 1}"

    def hosts_file(self) -> str:
        """/etc/hosts as every host of the job sees it."""
        return "127.0.0.1 localhost\n" + "".join(f"{self.address(h)} {h}\n" for h in self.hosts)

    def open(self) -> HostNetwork:
        """The namespaces, the bridge and each host's eth0, in 2 + N `ip` processes (`ip -batch`:
        one process per namespace's commands; one command per process took 3 + 5N starts)."""
        names = [self.switch, *(self.namespace(h) for h in self.hosts)]
        # Recorded first: a batch that fails part-way leaves some made, and `close` deletes
        # whichever exist (the names carry this run's id: nothing else has them).
        self.created.extend(names)
        try:
            _ip_batch([f"netns add {name}" for name in names])
            switch = ["link add br0 type bridge", "link set br0 up"]
            for index, host in enumerate(self.hosts, start=1):
                switch += [
                    f"link add h{index} type veth peer name eth0 netns {self.namespace(host)}",
                    f"link set h{index} master br0 up",
                ]
            _ip_batch(switch, namespace=self.switch)
            for host in self.hosts:
                own = [f"addr add {self.address(host)}/24 dev eth0", "link set eth0 up", "link set lo up"]
                _ip_batch(own, namespace=self.namespace(host))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for name in reversed(self.created):
            with contextlib.suppress(LocalModeError):
                _ip("netns", "delete", name)
        self.created.clear()

    def __enter__(self) -> HostNetwork:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def leftover_namespaces(prefix: str = "dtrain-") -> list[str]:
    """Namespaces local mode made that still exist (for the reaper and the tests)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))
