"""The four faults a reading of the images against the toolkits found (issue 27), each shown
through the image's real entry chain (dtrain/local/entry_chain.py): per host, fresh
PID/UTS/mount/network namespaces, PID 1 tini -g, training_code/container/entrypoint.sh, the
toolkit's real `train` at the image's version (no toolkit function replaced), its runner and
launcher, the ranks, with only the image's commands on PATH (dtrain/local/image_tools.py).

1. horovod image, parameter_server, a host other than the master: after its script the TF
   toolkit runs `curl algo-1:2222` until the master is down; the image had no curl.
2. train_tf_keras.py inherited the entry script's ignored SIGTERM and never checkpointed.
3. hyperparameters reach the script as the image's toolkit delivers them (sagemaker-training
   4.8.3 joins the command into one shell string; 5.x passes an argv).
4. ddp image: mpirun SIGKILLed the ranks 1 s after it forwarded SIGTERM (Open MPI's default
   odls_base_sigkill_timeout, which the PyTorch DLC keeps).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dtrain.jobspec.spec import parse_spec
from dtrain.local.entry_chain import (
    image_toolkit_bin,
    namespace_init_pid,
    prepare_host_tree,
    prepare_job_trees,
    small_job,
    start_chain,
)
from dtrain.local.host_network import HostNetwork, leftover_namespaces
from dtrain.local.job import LocalTrainingJob
from dtrain.local.platform import local_platform_settings
from dtrain.requests.training_request import build_training_job_request
from tests.example_runs import ExampleRuns
from tests.training.support import script_job_dirs, start_host_chains, wait_for

# A rank whose checkpoint takes 3 s: it writes checkpoints/rank-<r>.done when it is complete.
SLOW_CHECKPOINT_RANK = """
import os, signal, sys, time
from pathlib import Path
from types import SimpleNamespace
stop = []
signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(time.monotonic()))
rank = os.environ.get("OMPI_COMM_WORLD_RANK", "0")
print(f"rank {rank} ready", flush=True)
while not stop:
    time.sleep(0.05)
print(f"rank {rank} SIGTERM: saving for 3 s", flush=True)
time.sleep(3)
done = Path(os.environ["SAGEMAKER_BASE_DIR"]) / "checkpoints" / f"rank-{rank}.done"
done.parent.mkdir(exist_ok=True)
done.write_text("complete")
print(f"rank {rank} saved", flush=True)
"""


def _run_chain(
    image: str,
    base: Path,
    log_path: Path,
    *,
    ready: Callable[[str], bool] | None = None,
    stop_after_ready: bool = False,
    wait_limit: float = 180.0,
    extra_env: Mapping[str, str] | None = None,
    until: Callable[[], bool] | None = None,
) -> int | None:
    """Starts the chain; when `ready` holds on its log, SIGTERMs PID 1 if asked; returns its exit
    code (None: it did not end within `wait_limit`, or `until` held first, and it was killed)."""
    with open(log_path, "w") as log:
        chain = start_chain(
            image, base, toolkit_bin=image_toolkit_bin(image), output=log, extra_env=extra_env
        )
        try:
            if ready is not None:
                wait_for(lambda: ready(log_path.read_text()) or chain.poll() is not None, "the chain")
                assert chain.poll() is None, log_path.read_text()[-3000:]
            if stop_after_ready:
                os.kill(namespace_init_pid(chain), signal.SIGTERM)
            deadline = time.monotonic() + wait_limit
            while until is not None and chain.poll() is None and time.monotonic() < deadline:
                if until():
                    return None
                time.sleep(0.1)
            return chain.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None
        finally:
            if chain.poll() is None:
                os.killpg(chain.pid, signal.SIGKILL)
                chain.wait()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_finding4_ddp_mpirun_lets_a_slow_checkpoint_finish(tmp_path: Path) -> None:
    """Slow (the chain starts, two 3 s saves). The entry script signals the ranks itself and
    mpirun is never sent the stop (training_code/container/entrypoint.sh), so here the 3 s saves
    complete whatever odls_base_sigkill_timeout says; the image's 30 s (instead of Open MPI's 1 s,
    which SIGKILLed the ranks 1 s into their save when mpirun forwarded the stop) still matters
    where mpirun itself is signalled: test_image_contract.py's finding-5 mpirun test holds it."""
    code = script_job_dirs(tmp_path, "slow_checkpoint.py", SLOW_CHECKPOINT_RANK)
    spec = small_job(
        "ddp", "pytorchddp", entry_point="slow_checkpoint.py", hyperparameters={"epochs": 1}, source_dir=code
    )
    base = prepare_host_tree(tmp_path / "job", spec, ranks=2, data=tmp_path / "data", code=code)
    log_path = tmp_path / "chain.log"

    def both_saved() -> bool:
        return len(list((base / "checkpoints").glob("rank-*.done"))) == 2

    _run_chain(
        "ddp",
        base,
        log_path,
        ready=lambda text: "rank 0 ready" in text and "rank 1 ready" in text,
        stop_after_ready=True,
        until=both_saved,
    )
    text = log_path.read_text()
    assert "mpirun --host algo-1 -np 2" in text, text[-3000:]  # the toolkit's own launch
    done = sorted(p.name for p in (base / "checkpoints").glob("rank-*.done"))
    assert done == ["rank-0.done", "rank-1.done"], text[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_finding2_train_tf_keras_checkpoints_on_sigterm_to_pid1(
    tmp_path: Path, example_runs: ExampleRuns
) -> None:
    """Slow (~40 s: TensorFlow starts twice, in the toolkit and the trainer). On the old script
    the trainer inherits the entry script's ignored SIGTERM: no "SIGTERM: stopping" line, and the
    chain still runs when the wait ends. Its data is the session's TFRecords of the CIFAR-10 sample
    (tests/example_runs.py, which the TensorFlow examples' runs train on): made here, they cost
    one more TensorFlow start."""
    hyperparameters = {"epochs": 1000, "batch_size": 16, "width": 8, "checkpoint_every_steps": 0}
    spec = small_job("horovod", None, entry_point="train_tf_keras.py", hyperparameters=hyperparameters)
    base = prepare_host_tree(tmp_path / "job", spec, ranks=1, data=example_runs.tfrecords())
    log_path = tmp_path / "chain.log"
    exit_code = _run_chain(
        "horovod", base, log_path, ready=lambda text: "epoch=2 " in text, stop_after_ready=True, wait_limit=90
    )
    text = log_path.read_text()
    stopped = re.findall(r"SIGTERM: stopping at step (\d+)", text)
    assert stopped, text[-3000:]
    newest = max(int(p.name.split("-")[1].split(".")[0]) for p in (base / "checkpoints").glob("ckpt-*.index"))
    assert newest == int(stopped[-1]), text[-3000:]
    assert not (base / "model" / "1").exists()  # stopped: no final model
    assert exit_code == 0, text[-3000:]  # no launcher: the toolkit's exit is the trainer's


# The script of both hosts of a parameter_server job: names its host and the other host.
SHOW_HOST = """
import json, os, socket
task = json.loads(os.environ["TF_CONFIG"])["task"]
other = "algo-2" if socket.gethostname() == "algo-1" else "algo-1"
address = socket.gethostbyname(other)
me = socket.gethostname()
print(f"host {me} task {task['type']}:{task['index']} sees {other} at {address}", flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_finding1_parameter_server_hosts_finish_with_the_image_curl(
    tmp_path: Path, harness: SimpleNamespace
) -> None:
    """Two hosts, each in its own UTS + network namespace on a private bridge
    (dtrain/local/host_network.py), each running the horovod image's chain: the TF toolkit starts
    a ps per host, runs the script, and algo-2 then polls the master with `curl algo-1:2222`
    until it is down. Slow (~40 s: each host's toolkit imports TensorFlow). On the old image (no
    curl in its inventory) algo-2's toolkit fails with FileNotFoundError: 'curl'."""
    code = script_job_dirs(tmp_path, "show_host.py", SHOW_HOST)
    spec = small_job(
        "horovod",
        "parameter_server",
        entry_point="show_host.py",
        hosts=2,
        hyperparameters={},
        source_dir=code,
    )
    bases = prepare_job_trees(tmp_path / "job", spec, ranks=1, data=tmp_path / "data", code=code)
    hosts = ["algo-1", "algo-2"]
    with HostNetwork(hosts) as network:
        chains, logs = start_host_chains("horovod", bases, hosts, network, tmp_path)
        codes = harness.wait_chains(chains, logs, timeout=240)
        names = network.created[:]
    texts = {host: (tmp_path / f"{host}.log").read_text() for host in hosts}
    assert codes == [0, 0], {h: t[-2500:] for h, t in texts.items()}
    assert "host algo-1 task master:0 sees algo-2 at 10.254.0.2" in texts["algo-1"]
    assert "host algo-2 task worker:0 sees algo-1 at 10.254.0.1" in texts["algo-2"]
    assert "master algo-1 is down, stopping parameter server" in texts["algo-2"]
    assert not set(names) & set(leftover_namespaces())


# Prints what the script received: its arguments and SM_HPS.
ECHO_ARGS = """
import json, os, sys
print("DELIVERED " + json.dumps({"argv": sys.argv[1:], "hps": json.loads(os.environ["SM_HPS"])}), flush=True)
"""
# Values the SDK accepts (JSON scalars): text with spaces, quotes, backslashes and `$` (glob
# characters are left out: `*` expands against the working directory, which differs between the
# two runs by design), "", null, numbers and booleans.
HP_TEXT = st.text(alphabet="ab x'\"\\$=,-", max_size=6).filter(lambda t: "$$" not in t)
HP_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-99, 99), st.floats(-10, 10, width=32), HP_TEXT)
HP_NAME = st.from_regex(r"[a-z][a-z_]{0,5}", fullmatch=True)


def _delivered(text: str) -> dict[str, Any] | None:
    found = re.findall(r"^DELIVERED (.*)$", text, flags=re.MULTILINE)
    return json.loads(found[-1]) if found else None


def _shell_delivery(hyperparameters: Mapping[str, Any], python: Path) -> list[str] | None:
    """What a script receives from sagemaker-training 4.8.3 (the horovod image's): the toolkit's own
    `mapping.to_cmd_args` of the hyperparameters, joined by spaces with the command and run by
    /bin/sh (`process.run_async`'s create_subprocess_shell). None when /bin/sh refuses the line."""
    to_args = (
        "import json, sys; from sagemaker_training import mapping; "
        "print(json.dumps(mapping.to_cmd_args(json.loads(sys.argv[1]))))"
    )
    args = json.loads(
        subprocess.run(
            [str(python), "-c", to_args, json.dumps(hyperparameters)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    echo = f"{python} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "
    done = subprocess.run(
        ["/bin/sh", "-c", echo + " ".join(args)], capture_output=True, text=True, check=False
    )
    return list(json.loads(done.stdout)) if done.returncode == 0 else None


@pytest.mark.slow
@pytest.mark.timeout(600)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(hyperparameters={"name": "a b", "empty": "", "nothing": None, "dollar": "$HOME x"})
@given(hyperparameters=st.dictionaries(HP_NAME, HP_VALUE, min_size=1, max_size=4))
def test_finding3_hyperparameters_reach_the_script_as_the_image_toolkit_delivers_them(
    hyperparameters: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`dtrain local` (LocalTrainingJob: the horovod image's real chain, sagemaker-training 4.8.3,
    which runs the command as one shell string) delivers SM_HPS as the spec's values exactly, and
    argv as /bin/sh splits the toolkit's joined command. Slow (~15 s an example: the chain's
    toolkit imports TensorFlow), so few examples. On the old local mode, which passed an argv list,
    "a b" arrived as one argument instead of two and "" as an argument the toolkit drops."""
    tmp_path = tmp_path_factory.mktemp("hps")
    code = script_job_dirs(tmp_path, "echo_args.py", ECHO_ARGS)
    spec = small_job(
        "horovod", None, entry_point="echo_args.py", hyperparameters=hyperparameters, source_dir=code
    )
    request = build_training_job_request(parse_spec(spec), local_platform_settings())
    job = LocalTrainingJob(
        request, workdir=tmp_path / "local", code_dir=code, channel_paths={"train": tmp_path / "data"}
    )
    job.start().wait(timeout=120)
    ours = _delivered(job.layout.log_file("algo-1").read_text())
    expected = _shell_delivery(hyperparameters, image_toolkit_bin("horovod") / "python")
    log = job.layout.log_file("algo-1").read_text()[-2000:]
    if expected is None:  # /bin/sh refused an unbalanced quote: so does the chain's
        assert ours is None, (hyperparameters, log)
        return
    assert ours is not None, (hyperparameters, log)
    assert ours["argv"] == expected, (hyperparameters, log)
    assert ours["hps"] == hyperparameters
