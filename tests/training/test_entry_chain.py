"""SIGTERM to PID 1 of the image's real entry chain reaches the trainers (issue 20, finding 5).

StopTrainingJob and spot interruption send SIGTERM to the container's PID 1 only. Here the ddp
image's chain (tini -g, training_code/container/entrypoint.sh, the SageMaker training toolkit's
`train` handing over to the PyTorch toolkit, torchrun, two ranks of train_ddp.py) runs in fresh
PID/UTS/mount/network namespaces (dtrain/local/entry_chain.py) with a scratch /opt/ml, and the
test signals the namespace's PID 1 as SageMaker would. The figures (signal to checkpoint on disk,
steps lost) come from benchmarks/sigterm_entry_chain.py, which runs the same scenario.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from dtrain.commands.data_cmd import make_cifar10_sample
from dtrain.local.entry_chain import (
    namespace_init_pid,
    prepare_host_tree,
    small_job,
    start_chain,
    toolkit_venv,
)
from tests.training.support import wait_for

TOOLKIT_BIN = toolkit_venv() / "bin"
STEP = re.compile(r"\bstep=(\d+)")


# The shape of the PyTorch DLC's start_with_right_hostname.sh (its ENTRYPOINT, which our entry
# script runs): a bash script that runs `train` as a child, without exec, after building the
# hostname fix from its working directory; here it only records that directory.
DLC_SCRIPT_STAND_IN = """#!/usr/bin/env bash
if [[ "$1" = "train" ]]; then
     pwd > "$CWD_FILE"
     train
else
     eval "$@"
fi
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("distribution", "ranks", "chain_exit", "dlc_script"),
    # No distribution: the toolkit runs the script itself, so the chain's exit code is the
    # trainer's. torch_distributed: torchrun turns the SIGTERM it received into exit 1 (its
    # SignalException) after the ranks stopped; SageMaker reports a stopped job as Stopped anyway.
    # dlc_script: with a stand-in for the DLC's start_with_right_hostname.sh between the entry
    # script and `train`, as in the ddp image.
    [(None, 1, 0, False), ("torch_distributed", 2, 1, False), ("torch_distributed", 2, 1, True)],
    ids=["script", "torchrun-2-ranks", "torchrun-2-ranks-via-dlc-script"],
)
def test_finding5_sigterm_to_pid1_checkpoints_the_step_the_ranks_reached(
    distribution: str | None, ranks: int, chain_exit: int, dlc_script: bool, tmp_path: Path
) -> None:
    assert (TOOLKIT_BIN / "train").exists(), "make setup builds .venv-toolkit (requirements-toolkit.txt)"
    make_cifar10_sample(tmp_path / "data", train=256, test=64)
    base = prepare_host_tree(
        tmp_path / "job", small_job("ddp", distribution), ranks=ranks, data=tmp_path / "data"
    )
    extra_env = {}
    if dlc_script:
        extra_env = {
            "DTRAIN_HOSTNAME_FIX": str(tmp_path / "start_with_right_hostname.sh"),
            "CWD_FILE": str(tmp_path / "cwd"),
        }
        Path(extra_env["DTRAIN_HOSTNAME_FIX"]).write_text(DLC_SCRIPT_STAND_IN)
    log_path = tmp_path / "chain.log"
    with open(log_path, "w") as log:
        # The stand-in and the file it writes live in tmp_path: kept visible in the host's own /tmp.
        chain = start_chain(
            "ddp", base, toolkit_bin=TOOLKIT_BIN, output=log, extra_env=extra_env, visible=[tmp_path]
        )
        try:
            wait_for(lambda: len(STEP.findall(log_path.read_text())) >= 3, "three training steps")
            reached = max(int(s) for s in STEP.findall(log_path.read_text()))
            os.kill(namespace_init_pid(chain), signal.SIGTERM)
            code = chain.wait(timeout=180)
        finally:
            if chain.poll() is None:
                os.killpg(chain.pid, signal.SIGKILL)
    text = log_path.read_text()
    assert f"--nproc_per_node {ranks}" in text if distribution else "torchrun" not in text
    stopped = [int(m) for m in re.findall(r"SIGTERM: stopping at step (\d+)", text)]
    assert stopped, text[-3000:]
    checkpoints = sorted((base / "checkpoints").glob("step-*.ckpt"))
    assert checkpoints, text[-3000:]
    # Nothing lost: the checkpoint holds every step the ranks had finished when the signal came.
    assert int(checkpoints[-1].name[5:14]) == max(stopped) >= reached
    assert code == chain_exit, text[-3000:]
    if dlc_script:  # finding 7: the DLC's script compiles ./changehostname.c, which lives in /
        assert (tmp_path / "cwd").read_text().strip() == "/"
