"""A training job's hosts as local mode starts them: one image entry chain per simulated host.

Every job, whatever its distribution, starts the same way SageMaker starts it: per host, the
packaged image's own entry chain (dtrain/local/entry_chain.py: PID 1 tini, the entry script,
the SageMaker training toolkit's real `train` at the image's version, the runner and launcher
it picks, the ranks). Local mode decides nothing about the launch itself: which launcher, which
arguments, TF_CONFIG, parameter servers, MPI over ssh are the toolkit's. What local mode adds is
what the instance would have:

- the host's /opt/ml tree (written before, dtrain/local/job.py) and its name;
- a network: for one host, a namespace of its own (loopback and eth0); for several, one
  namespace each on a private bridge (dtrain/local/host_network.py) and a key pair for the job,
  as the images set up ssh for the toolkit's MPI runners;
- the container's environment: the request's Environment, and OMP_NUM_THREADS sized to this
  machine's cores shared by every simulated host (SageMaker gives each instance its own);
- the request's ContainerEntrypoint / ContainerArguments in place of the image's.

Stopping is SageMaker's too: SIGTERM to each host's PID 1, then SIGKILL once the grace period
is over (killing a PID namespace's init ends everything in it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dtrain.local.entry_chain import chain_command, image_toolkit_bin, job_ssh_dir, namespace_init_pid
from dtrain.local.errors import LocalModeError
from dtrain.local.host_network import HostNetwork
from dtrain.local.layout import JobLayout
from dtrain.local.processes import ProcessSpec, RunningProcess, stop_all


def refuse_hosts_without_namespaces(hosts: int, missing: str | None) -> None:
    """Several simulated hosts need a network each: a one-line refusal naming what is missing."""
    if hosts > 1 and missing is not None:
        raise LocalModeError(
            f"{hosts} simulated hosts need a network namespace each and {missing}; "
            "run with --hosts 1 (one host runs without one)"
        )


def chain_specs(
    request: Mapping[str, Any],
    layout: JobLayout,
    image: str,
    *,
    environ: Mapping[str, str],
    container_env: Mapping[str, str],
    network: HostNetwork | None,
    own_network: bool,
    visible: Sequence[Path],
) -> list[ProcessSpec]:
    """One process per host: its entry chain, in its namespaces, labelled with its name."""
    algorithm = request.get("AlgorithmSpecification", {})
    entrypoint = algorithm.get("ContainerEntrypoint")
    arguments = algorithm.get("ContainerArguments")
    names = [t.name for t in layout.hosts]
    ssh_dir = job_ssh_dir(layout.root / "ssh") if len(names) > 1 else None
    specs = []
    for tree in layout.hosts:
        argv, env = chain_command(
            image,
            tree.base,
            toolkit_bin=image_toolkit_bin(image),
            hostname=tree.name,
            hosts=names,
            environ=environ,
            extra_env=container_env,
            network=network,
            own_network=own_network,
            ssh_dir=ssh_dir,
            visible=visible,
            entrypoint=list(entrypoint) if entrypoint else None,
            arguments=list(arguments) if arguments else None,
        )
        specs.append(ProcessSpec(host=tree.name, argv=argv, env=env, cwd=layout.root, name="entry chain"))
    return specs


def stop_chains(processes: Sequence[RunningProcess], run_id: str, *, grace_seconds: float) -> None:
    """StopTrainingJob: SIGTERM to each host's PID 1 (what SageMaker signals), the grace period,
    then every process of the run killed (dtrain/local/processes.py's stop_all, no grace left)."""
    for process in processes:
        if process.poll() is not None:
            continue
        try:
            os.kill(namespace_init_pid(process.popen), signal.SIGTERM)
        except (LocalModeError, OSError):
            # unshare has not forked PID 1 yet, or it has just ended: its own group, then.
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        time.sleep(0.1)
    stop_all(processes, run_id, grace_seconds=0)
