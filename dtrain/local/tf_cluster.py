"""What SageMaker's TensorFlow toolkit does for `parameter_server` and MultiWorkerMirrored jobs,
played by local mode on loopback.

The toolkit (sagemaker-tensorflow-training, `sagemaker_tensorflow_container/training.py`):
- parameter_server, more than one host: TF_CONFIG cluster `master: [host0:2222]`,
  `worker: [host1..n:2222]`, `ps: [every host:2223]`, `"environment": "cloud"`; task `master` 0
  on the first host, `worker` i-1 on the others. On every host it starts a parameter server
  itself (`tf.distribute.Server(cluster, job_name="ps", task_index=<host index>)`, GPUs hidden),
  runs the script, and a non-master host then waits until the master is down before its ps
  goes. One host: no TF_CONFIG and no ps (the toolkit's `parameter_server_enabled` needs two).
- multi_worker_mirrored: `worker: [every host:8890]`, task `worker` i, `"environment": "cloud"`.

The TF_CONFIG documents are built exactly so, from the host names; then, because every
simulated host is 127.0.0.1, each (host, port) is mapped to a free loopback port. The ps
servers are dtrain's daemon processes, one per host: they stay until every host's script has
ended, which is after the master's (the toolkit's "wait until the master is down"), and are
stopped with the job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dtrain.local.layout import HostTree
from dtrain.local.ports import LOOPBACK, free_port
from dtrain.local.processes import ProcessSpec

# The toolkit's fixed ports (training.py): master/worker gRPC, ps gRPC, MWMS workers.
WORKER_PORT = 2222
PS_PORT = 2223
MWMS_PORT = 8890

# The toolkit's `_run_ps`, as a process of its own (the toolkit forks it from its own process).
PS_SERVER = (
    "import json, sys, tensorflow as tf\n"
    "cluster, index = json.loads(sys.argv[1]), int(sys.argv[2])\n"
    "no_gpu = tf.compat.v1.ConfigProto(device_count={'GPU': 0})\n"
    "print(f'ps {index} serving', flush=True)\n"
    "tf.distribute.Server(tf.train.ClusterSpec(cluster), job_name='ps', task_index=index,"
    " config=no_gpu).join()\n"
)


def _addresses(hosts: Sequence[str], port: int) -> list[str]:
    return [f"{host}:{port}" for host in hosts]


def toolkit_ps_config(hosts: Sequence[str], current_host: str, *, ps_task: bool = False) -> dict[str, Any]:
    """The toolkit's `_build_tf_config_for_ps` (hosts >= 2)."""
    masters, workers = list(hosts[:1]), list(hosts[1:])
    cluster: dict[str, list[str]] = {"master": _addresses(masters, WORKER_PORT)}
    cluster["ps"] = _addresses(hosts, PS_PORT)
    if workers:
        cluster["worker"] = _addresses(workers, WORKER_PORT)
    if ps_task:
        task = {"index": list(hosts).index(current_host), "type": "ps"}
    elif current_host == hosts[0]:
        task = {"index": 0, "type": "master"}
    else:
        task = {"index": workers.index(current_host), "type": "worker"}
    return {"cluster": cluster, "environment": "cloud", "task": task}


def toolkit_mwms_config(hosts: Sequence[str], current_host: str) -> dict[str, Any]:
    """The toolkit's `_build_tf_config_for_mwms`."""
    return {
        "cluster": {"worker": _addresses(hosts, MWMS_PORT)},
        "environment": "cloud",
        "task": {"index": list(hosts).index(current_host), "type": "worker"},
    }


class LoopbackPorts:
    """host:port -> 127.0.0.1:<free port>, one free port per (host, port), the same everywhere."""

    def __init__(self) -> None:
        self.mapping: dict[str, str] = {}

    def address(self, address: str) -> str:
        if address not in self.mapping:
            # The kernel may hand a just-released ephemeral port out again: two roles of one
            # job on the same port would collide, so a port already given out is drawn again.
            taken = set(self.mapping.values())
            mapped = f"{LOOPBACK}:{free_port()}"
            while mapped in taken:
                mapped = f"{LOOPBACK}:{free_port()}"
            self.mapping[address] = mapped
        return self.mapping[address]

    def cluster(self, cluster: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        return {job: [self.address(a) for a in addresses] for job, addresses in cluster.items()}

    def config(self, tf_config: Mapping[str, Any]) -> dict[str, Any]:
        return {**tf_config, "cluster": self.cluster(tf_config["cluster"])}


def tf_config_specs(
    distribution: str,
    hosts: Sequence[HostTree],
    host_envs: Mapping[str, dict[str, str]],
    command: list[str],
    *,
    python: str,
) -> list[ProcessSpec]:
    """The processes of a parameter_server / multi_worker_mirrored_strategy job, per host."""
    names = [t.name for t in hosts]
    ports = LoopbackPorts()
    specs: list[ProcessSpec] = []

    def script(tree: HostTree, tf_config: Mapping[str, Any] | None) -> ProcessSpec:
        env = dict(host_envs[tree.name])
        if tf_config is not None:
            env["TF_CONFIG"] = json.dumps(ports.config(tf_config))
        return ProcessSpec(host=tree.name, argv=list(command), env=env, cwd=tree.code_dir, name="python")

    if distribution == "multi_worker_mirrored_strategy":
        return [script(tree, toolkit_mwms_config(names, tree.name)) for tree in hosts]
    if len(names) < 2:
        return [script(tree, None) for tree in hosts]
    for tree in hosts:
        specs.append(script(tree, toolkit_ps_config(names, tree.name)))
        ps_config = ports.config(toolkit_ps_config(names, tree.name, ps_task=True))
        env = dict(host_envs[tree.name])
        env["TF_CONFIG"] = json.dumps(ps_config)  # for a reader's benefit; the server takes argv
        specs.append(
            ProcessSpec(
                host=tree.name,
                argv=[
                    python,
                    "-c",
                    PS_SERVER,
                    json.dumps(ps_config["cluster"]),
                    str(ps_config["task"]["index"]),
                ],
                env=env,
                cwd=tree.code_dir,
                daemon=True,
                name="ps",
            )
        )
    return specs
