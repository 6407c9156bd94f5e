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

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from dtrain.local.entry_chain import (
    image_toolkit_bin,
    namespace_init_pid,
    prepare_host_tree,
    small_job,
    start_chain,
)

# A rank whose checkpoint takes 3 s: it writes checkpoints/rank-<r>.done when it is complete.
SLOW_CHECKPOINT_RANK = """
import os, signal, sys, time
from pathlib import Path
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


def _wait_for(predicate: Callable[[], Any], what: str, limit: float = 240.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _run_chain(
    image: str,
    base: Path,
    log_path: Path,
    *,
    ready: Callable[[str], bool] | None = None,
    stop_after_ready: bool = False,
    wait_limit: float = 180.0,
    extra_env: Mapping[str, str] | None = None,
) -> int | None:
    """Starts the chain; when `ready` holds on its log, SIGTERMs PID 1 if asked; returns its exit
    code (None: it did not end within `wait_limit`, and was killed)."""
    with open(log_path, "w") as log:
        chain = start_chain(
            image, base, toolkit_bin=image_toolkit_bin(image), output=log, extra_env=extra_env
        )
        try:
            if ready is not None:
                _wait_for(lambda: ready(log_path.read_text()) or chain.poll() is not None, "the chain")
                assert chain.poll() is None, log_path.read_text()[-3000:]
            if stop_after_ready:
                os.kill(namespace_init_pid(chain), signal.SIGTERM)
            return chain.wait(timeout=wait_limit)
        except subprocess.TimeoutExpired:
            return None
        finally:
            if chain.poll() is None:
                os.killpg(chain.pid, signal.SIGKILL)
                chain.wait()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_finding4_ddp_mpirun_lets_a_slow_checkpoint_finish(tmp_path: Path) -> None:
    """Slow (~70 s) by nature: mpirun forwards SIGTERM to the ranks only after the image's
    odls_base_sigkill_timeout (30 s) and exits after twice that. On the old image (Open MPI's
    1 s) the ranks are SIGKILLed 1 s into their 3 s checkpoint and no rank-*.done appears."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "slow_checkpoint.py").write_text(SLOW_CHECKPOINT_RANK)
    (tmp_path / "data").mkdir()
    spec = small_job("ddp", "pytorchddp", entry_point="slow_checkpoint.py", hyperparameters={"epochs": 1})
    base = prepare_host_tree(tmp_path / "job", spec, ranks=2, data=tmp_path / "data", code=code)
    log_path = tmp_path / "chain.log"
    exit_code = _run_chain(
        "ddp",
        base,
        log_path,
        ready=lambda text: "rank 0 ready" in text and "rank 1 ready" in text,
        stop_after_ready=True,
    )
    text = log_path.read_text()
    assert "mpirun --host algo-1 -np 2" in text, text[-3000:]  # the toolkit's own launch
    done = sorted(p.name for p in (base / "checkpoints").glob("rank-*.done"))
    assert done == ["rank-0.done", "rank-1.done"], text[-3000:]
    # mpirun, told to stop, exits non-zero once its ranks are gone; SageMaker reports Stopped.
    assert exit_code is not None and exit_code != 0, text[-3000:]
