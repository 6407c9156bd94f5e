"""`dtrain emulate up` and `python -m dtrain.emulator up` start one and the same server
(dtrain/emulator/serve.py): the same deployed platform, the same state record, the same stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator.server_state import STATE_DIR_ENV
from dtrain.ports import free_port

pytestmark = pytest.mark.slow  # two server processes, each deploying the stand-in platform

ENTRY_POINTS = {
    "dtrain emulate": [sys.executable, "-m", "dtrain", "emulate"],
    "python -m dtrain.emulator": [sys.executable, "-m", "dtrain.emulator"],
}


def _up_status_down(command: list[str], assembly: Path, work: Path) -> dict[str, Any]:
    """`up` with the stand-in assembly, the state `status` shows, then `down`; the state."""
    port = free_port()
    env = {**os.environ, STATE_DIR_ENV: str(work / "state")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args, "--port", str(port)], env=env, cwd=work,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    state_file = work / "state" / f"emulator-{port}.json"
    up = run("up", "--assembly", str(assembly), "--workdir", str(work / "emulator"))
    try:
        assert up.returncode == 0, up.stderr
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port} " in up.stdout
        state: dict[str, Any] = json.loads(run("status").stdout)
        down = run("down")
        assert down.returncode == 0, down.stderr
        assert not state_file.exists()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return state
    finally:
        if state_file.exists():  # never leave a server behind a failed assertion
            os.kill(int(json.loads(state_file.read_text())["pid"]), signal.SIGTERM)


def test_both_commands_serve_the_same_platform_and_stop_cleanly(
    standin_assembly: Path, tmp_path: Path
) -> None:
    states = {}
    for name, command in ENTRY_POINTS.items():
        work = tmp_path / name.replace(" ", "-")
        work.mkdir()
        states[name] = _up_status_down(command, standin_assembly, work)
    ours, module = states["dtrain emulate"], states["python -m dtrain.emulator"]
    assert ours["stacks"]["DtrainOrchestration"]["StateMachineArn"].startswith("arn:aws:states:")
    # The same stacks with the same outputs (physical names differ from one deploy to the next).
    assert {k: sorted(v) for k, v in module["stacks"].items()} == {
        k: sorted(v) for k, v in ours["stacks"].items()
    }
    # What the emulator does not model is recorded alike (the skipped assets too).
    assert module["not_modelled"] == ours["not_modelled"]
    assert set(module) == set(ours) == {
        "pid", "started", "cmdline", "endpoint", "region", "stacks", "not_modelled"
    }  # fmt: skip
