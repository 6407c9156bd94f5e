"""Every process `dtrain local` starts dies with it, however dtrain ends.

The training script ignores SIGTERM and starts a child that calls setsid() and ignores
SIGTERM too: the worst case for a process-group kill. The case's marker variable is in
every process's environment; after dtrain ends, none may carry it (the `case_env` fixture
checks, and so does each test, before the fixture's own wait).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.support import MARKER_ENV, STUBBORN_JOB, wait_gone


def _start_local_job(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(STUBBORN_JOB)
    spec = {
        "framework": "pytorch",
        "job_name": "stubborn",
        "estimator": {"entry_point": "train.py", "source_dir": str(source), "image_uri": "ddp",
                      "instance_type": "ml.m5.large", "instance_count": 1},
    }  # fmt: skip
    spec_file = tmp_path / "stubborn.json"
    spec_file.write_text(json.dumps(spec))
    config = tmp_path / "local.json"
    config.write_text(json.dumps({"stop_grace_seconds": 1}))
    # Inside the job's folder: a host's /tmp is its own, as a container's is.
    ready = tmp_path / "work" / "jobs" / "dtrain-stubborn" / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dtrain", "local", str(spec_file), "--no-live", "--workdir",
         str(tmp_path / "work"), "--config", str(config)],
        env={**env, "READY_FILE": str(ready)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, "dtrain local ended before the training script was ready"
        assert time.monotonic() < deadline, "the training script never got ready"
        time.sleep(0.1)
    return proc, ready


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL, signal.SIGTERM, signal.SIGINT],
                         ids=lambda s: s.name)  # fmt: skip
def test_no_training_process_outlives_dtrain_local(
    tmp_path: Path, case_env: dict[str, str], sig: signal.Signals
) -> None:
    proc, _ = _start_local_job(tmp_path, case_env)
    marker = case_env[MARKER_ENV]
    trainers = [pid for pid in _marked(marker) if pid != proc.pid]
    assert len(trainers) >= 3, "the reaper, the trainer and its setsid() child should be running"
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    assert wait_gone(marker, seconds=30) == []


def _marked(marker: str) -> list[int]:
    from tests.hostile.support import marked_pids

    return marked_pids(marker)
