"""Each simulated host of a job is its own UTS + network namespace on a private bridge
(dtrain/local/host_network.py), running the image's real entry chain (dtrain/local/entry_chain.py).

A two-host MPI job on the ddp image shows all of it at once: the toolkit's MPI runner starts sshd
on each host itself, the master waits until it can ssh to algo-2 (the job's own key pair), runs
`mpirun --host algo-1,algo-2`, which starts algo-2's rank over ssh, and tells algo-2 it finished
with `ssh algo-2 touch /tmp/done.algo-1` (into algo-2's own /tmp). Each rank reports the
namespace's host name (uname) and where the other host's name resolves.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dtrain.local.entry_chain import job_ssh_dir, prepare_job_trees, small_job
from dtrain.local.host_network import HostNetwork, leftover_namespaces
from dtrain.local.isolation import detect_isolation
from tests.training.support import script_job_dirs, start_host_chains

# It outlives the worker's one-second poll for orted: the toolkit's worker waits up to 20 minutes
# for an orted it never saw (sagemaker_training/mpi.py `_orted_process`).
RANK = """
import os, socket, time
time.sleep(3)
rank = os.environ["OMPI_COMM_WORLD_RANK"]
me = os.uname().nodename
other = "algo-2" if me == "algo-1" else "algo-1"
print(f"rank {rank} on {me} sees {other} at {socket.gethostbyname(other)}", flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_hosts_run_mpi_over_ssh_between_their_namespaces(
    tmp_path: Path, harness: SimpleNamespace
) -> None:
    """Slow (~45 s): the toolkit's own waits (it sleeps 30 s after telling the workers mpirun
    finished, as on SageMaker)."""
    assert detect_isolation().several_hosts_missing is None
    code = script_job_dirs(tmp_path, "rank.py", RANK)
    spec = small_job("ddp", "pytorchddp", entry_point="rank.py", hosts=2, hyperparameters={}, source_dir=code)
    bases = prepare_job_trees(tmp_path / "job", spec, ranks=1, data=tmp_path / "data", code=code)
    hosts = ["algo-1", "algo-2"]
    ssh = job_ssh_dir(tmp_path / "ssh")
    with HostNetwork(hosts) as network:
        chains, logs = start_host_chains("ddp", bases, hosts, network, tmp_path, ssh_dir=ssh)
        codes = harness.wait_chains(chains, logs, timeout=240)
        names = list(network.created)
    texts = {host: (tmp_path / f"{host}.log").read_text() for host in hosts}
    assert codes == [0, 0], {h: t[-2500:] for h, t in texts.items()}
    # Both ranks' output comes back through the master's mpirun.
    assert "rank 0 on algo-1 sees algo-2 at 10.254.0.2" in texts["algo-1"], texts["algo-1"][-3000:]
    assert "rank 1 on algo-2 sees algo-1 at 10.254.0.1" in texts["algo-1"], texts["algo-1"][-3000:]
    assert "MPI training job status file found" in texts["algo-2"], texts["algo-2"][-3000:]
    assert not list(Path("/tmp").glob("done.algo-*"))  # into algo-2's own /tmp
    assert not set(names) & set(leftover_namespaces())
