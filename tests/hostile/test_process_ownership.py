"""Signals reach only our own processes, two commands for one place settle it, and nothing a
command started outlives it.

The class: a pid read from a file or kept by a command names a process only for a while (a
stale record's pid is reused; a negative pid is a process group; `true` is an int to Python),
and two commands may race for one port or one folder. Each case plants a bystander process
(a `sleep` in a session of its own) where a careless command would signal it, and checks that
it is still alive; the `case_env` fixture checks that no process of the case is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.ports import free_port
from tests.hostile.support import (
    MARKER_ENV,
    PREP_RUN,
    STUBBORN_JOB,
    Outcome,
    marked_pids,
    wait_gone,
    write_processing_spec,
)


@pytest.fixture
def state_dir(case_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "state"
    case_env["DTRAIN_STATE_DIR"] = str(directory)
    monkeypatch.setenv("DTRAIN_STATE_DIR", str(directory))
    return directory


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not the emulator, leading a process group of its own."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def process_identity(pid: int) -> dict[str, Any] | None:
    from dtrain.emulator.server_state import process_identity

    return process_identity(pid)


def held_lock(path: Path) -> Any:
    from dtrain.emulator.server_state import held_lock

    return held_lock(path)


def port_lock(port: int) -> Path:
    from dtrain.emulator.server_state import port_lock

    return port_lock(port)


def _record(state_dir: Path, port: int, **fields: Any) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"emulator-{port}.json"
    path.write_text(json.dumps({"endpoint": f"http://127.0.0.1:{port}", "region": "us-east-1", **fields}))
    return path


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    time.sleep(0.3)  # a signal, had one been sent, has been delivered by now
    return proc.poll() is None


def _recorded_pids(bystander: subprocess.Popen[bytes]) -> dict[str, dict[str, Any]]:
    reused = process_identity(bystander.pid)
    assert reused is not None
    return {
        # the emulator died and the kernel gave its pid to the bystander: same pid, another process
        "reused-pid": {
            "pid": bystander.pid,
            "started": reused["started"] - 1,
            "cmdline": ["python", "-m", "dtrain"],
        },
        "reused-pid-old-record": {"pid": bystander.pid},  # a record without the server's identity
        "negative-pid": {"pid": -bystander.pid},  # os.kill(-n) signals the process group n
        "pid-true": {"pid": True},  # json `true`: an int to Python, and kill(1) is init
        "pid-zero": {"pid": 0},  # kill(0) signals the caller's own group
        "pid-string": {"pid": str(bystander.pid)},
    }


CASES = ["reused-pid", "reused-pid-old-record", "negative-pid", "pid-true", "pid-zero", "pid-string"]


@pytest.mark.parametrize("case", CASES)
def test_down_signals_only_the_emulator_that_wrote_the_record(
    cli: Callable[..., Outcome], state_dir: Path, listener: int, bystander: subprocess.Popen[bytes], case: str
) -> None:
    path = _record(state_dir, listener, **_recorded_pids(bystander)[case])
    outcome = cli("emulate", "down", "--port", str(listener))
    assert outcome.code == 0 and "not running" in outcome.stdout, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert _alive(bystander), f"`down` signalled a process that is not the emulator ({case})"
    assert not path.exists(), "the untrustworthy record stays behind"


@pytest.mark.parametrize("case", ["reused-pid", "negative-pid", "pid-true"])
def test_status_does_not_call_another_process_the_emulator(
    cli: Callable[..., Outcome], state_dir: Path, listener: int, bystander: subprocess.Popen[bytes], case: str
) -> None:
    _record(state_dir, listener, **_recorded_pids(bystander)[case])
    outcome = cli("emulate", "status", "--port", str(listener))
    assert outcome.code in (0, 3) and "Traceback" not in outcome.stderr
    assert '"pid"' not in outcome.stdout, "status reported another process as the running emulator"
    assert _alive(bystander)


def test_down_stops_the_real_recorded_server(
    cli: Callable[..., Outcome], state_dir: Path, listener: int, case_env: dict[str, str]
) -> None:
    """The positive case: a record written by the process itself is trusted and signalled."""
    server = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"], env=case_env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 10
        while (identity := process_identity(server.pid)) is None or "-c" not in identity["cmdline"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        _record(state_dir, listener, pid=server.pid, **identity)
        outcome = cli("emulate", "down", "--port", str(listener))
        assert outcome.code == 0 and f"stopped emulator (pid {server.pid})" in outcome.stdout, outcome.stderr
        assert server.wait(timeout=10) == -signal.SIGTERM
    finally:
        server.kill()
        server.wait()


def test_a_second_server_for_one_port_gives_up_and_leaves_the_first_ones_record(
    cli_process: Callable[..., Outcome], state_dir: Path, listener: int, tmp_path: Path
) -> None:
    """The first server holds the port's lock from its start (here: this test, as a server in its
    synth would); the second exits at once with one line, and does not remove the first's record."""
    winner = _record(state_dir, listener, pid=os.getpid(), **(process_identity(os.getpid()) or {}))
    before = winner.read_text()
    with held_lock(port_lock(listener)) as ours:
        assert ours
        outcome = cli_process(
            "emulate", "serve", "--port", str(listener), "--workdir", str(tmp_path / "w"), timeout=30
        )
    outcome.one_line_error(1, f"port {listener}", "another emulator server")
    assert winner.read_text() == before


def test_a_second_up_for_one_port_reports_the_lost_race_in_one_line(
    cli_process: Callable[..., Outcome], state_dir: Path, tmp_path: Path
) -> None:
    """`up` found no record and a free port, but another server is starting there: its own
    server gives up, and `up` says why, in one line, with nothing left running."""
    port = free_port()
    with held_lock(port_lock(port)) as ours:
        assert ours
        outcome = cli_process(
            "emulate", "up", "--port", str(port), "--workdir", str(tmp_path / "w"), timeout=60
        )
    line = outcome.stderr.strip().splitlines()[-1]
    assert outcome.code == 1 and "Traceback" not in outcome.stderr, outcome.stderr
    assert "another emulator server is starting or running" in line
    assert not (state_dir / f"emulator-{port}.json").exists()


def test_a_second_server_for_one_workdir_gives_up(
    cli_process: Callable[..., Outcome], state_dir: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "tmp").mkdir()
    (workdir / "tmp" / "in-use.txt").write_text("the first server's scratch")
    with held_lock(workdir / "server.lock") as ours:
        assert ours
        outcome = cli_process(
            "emulate", "serve", "--port", str(free_port()), "--workdir", str(workdir), timeout=30
        )
    outcome.one_line_error(1, "--workdir", "another emulator server is using it")
    assert (workdir / "tmp" / "in-use.txt").exists()


def _processing_spec(tmp_path: Path) -> Path:
    return write_processing_spec(
        tmp_path, job_name="stubborn-processing", script=STUBBORN_JOB, run=PREP_RUN, instance_count=2
    )


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name
)
def test_no_processing_process_outlives_dtrain_local(
    tmp_path: Path, case_env: dict[str, str], sig: signal.Signals
) -> None:
    """Both hosts' commands ignore SIGTERM and each starts a setsid() child that does too.
    Several seconds each: dtrain local really starts, and the stop waits out its 1 s grace."""
    config = tmp_path / "local.json"
    config.write_text(json.dumps({"stop_grace_seconds": 1}))
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dtrain", "local", str(_processing_spec(tmp_path)), "--no-live",
         "--workdir", str(tmp_path / "w"), "--config", str(config)],
        env={**case_env, "READY_FILE": str(ready)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    marker = case_env[MARKER_ENV]
    deadline = time.monotonic() + 60
    while not ready.exists() or len(marked_pids(marker)) < 6:  # dtrain, reaper, 2 commands, 2 children
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the processing commands never got ready"
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    if sig != signal.SIGKILL:
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1].startswith("interrupted"), err
    assert wait_gone(marker, seconds=30) == []


def test_a_torchrun_job_leaves_nothing_in_the_temp_dir(
    cli_process: Callable[..., Outcome], tmp_path: Path, case_env: dict[str, str]
) -> None:
    """torchrun's agent makes a torchelastic_* folder in TMPDIR and never removes it; the run's
    own TMPDIR goes with the run (the `case_env` fixture checks that the case's TMPDIR is empty).
    About 10-20 s: a real torchrun with one worker, the only way to get its folder made."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("import os, tempfile\nprint('rank', os.environ.get('RANK'))\n")
    spec = {
        "framework": "pytorch",
        "job_name": "torchrun-tmp",
        "estimator": {"entry_point": "train.py", "source_dir": str(tmp_path / "src"), "image_uri": "ddp",
                      "instance_type": "ml.m5.large", "instance_count": 1,
                      "distribution": {"torch_distributed": {"enabled": True}}},
    }  # fmt: skip
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    outcome = cli_process("local", str(path), "--no-live", "--workdir", str(tmp_path / "w"), timeout=180)
    assert outcome.code == 0, outcome.stderr[-2000:]
    assert "torchrun" in outcome.stdout + outcome.stderr or "rank 0" in outcome.stdout
    left = list(Path(case_env["TMPDIR"]).iterdir())
    assert not left, f"left in the temp dir: {left}"
