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
  as the images set up ssh for the toolkit's MPI runners (what a machine without namespaces
  gets instead: dtrain/local/isolation.py);
- the container's environment: the request's Environment, and OMP_NUM_THREADS sized to this
  machine's cores shared by every simulated host (SageMaker gives each instance its own);
- the request's ContainerEntrypoint / ContainerArguments in place of the image's;
- two hyperparameters of the host's hyperparameters.json (`local_hyperparameters`).

Stopping is SageMaker's too: SIGTERM to each host's PID 1, then SIGKILL once the grace period
is over (killing a PID namespace's init ends everything in it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dtrain.local.entry_chain import chain_command, image_toolkit_bin, job_ssh_dir, namespace_init_pid
from dtrain.local.environment import decode_hyperparameters
from dtrain.local.errors import LocalModeError
from dtrain.local.host_network import HostNetwork
from dtrain.local.image_facts import read_image_facts
from dtrain.local.isolation import Isolation
from dtrain.local.layout import JobLayout
from dtrain.local.processes import ProcessSpec, RunningProcess, stop_all

# The TensorFlow toolkit asks S3 for an s3:// model_dir's bucket region before anything runs
# (sagemaker_tensorflow_container/s3_utils.py, `_s3_region`: GetBucketLocation); the hosts here
# have no S3 to ask, so such a model_dir becomes the container path the SDK itself passes under MPI.
LOCAL_MODEL_DIR = "/opt/ml/model"
PROCESSES_PER_HOST = "sagemaker_mpi_num_of_processes_per_host"


def local_hyperparameters(config_dir: Path, *, image: str, processes_per_host: int | None) -> None:
    """What local mode changes in a host's hyperparameters.json, and only this: `--procs-per-host`
    as the hyperparameter the toolkits read for it (unless the request sets it; their default is
    the GPU count), and, for the TensorFlow toolkit, an s3:// model_dir as /opt/ml/model."""
    path = config_dir / "hyperparameters.json"
    hyperparameters = json.loads(path.read_text())
    if processes_per_host is not None and PROCESSES_PER_HOST not in hyperparameters:
        hyperparameters[PROCESSES_PER_HOST] = json.dumps(processes_per_host)
    module = read_image_facts(image).env.get("SAGEMAKER_TRAINING_MODULE", "")
    model_dir = decode_hyperparameters(hyperparameters).get("model_dir")
    if module.startswith("sagemaker_tensorflow_container") and str(model_dir).startswith("s3://"):
        hyperparameters["model_dir"] = json.dumps(LOCAL_MODEL_DIR)
    path.write_text(json.dumps(hyperparameters))


def chain_specs(
    request: Mapping[str, Any],
    layout: JobLayout,
    image: str,
    *,
    environ: Mapping[str, str],
    container_env: Mapping[str, str],
    network: HostNetwork | None,
    isolation: Isolation,
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
            isolation=isolation,
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
