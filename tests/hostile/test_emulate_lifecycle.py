"""`dtrain emulate` on every bad path: a port in use, a dead server, Ctrl-C and SIGTERM during
start-up, another working directory. Nothing may hang and nothing may be left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dtrain.emulator.synth_cache import CACHE_ENV
from dtrain.ports import free_port
from tests.hostile.support import MARKER_ENV, HostileServer, Outcome, marked_pids, wait_gone


@pytest.fixture
def state_dir(case_env: dict[str, str], tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    case_env["DTRAIN_STATE_DIR"] = str(directory)
    return directory


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _record(state_dir: Path, port: int, pid: int) -> Path:
    """A record as the server writes it, for `pid` (its identity too while it is alive)."""
    from dtrain.emulator.server_state import process_identity

    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"emulator-{port}.json"
    state = {"pid": pid, "endpoint": f"http://127.0.0.1:{port}", "region": "us-east-1"}
    path.write_text(json.dumps({**state, **(process_identity(pid) or {})}))
    return path


def test_up_on_a_port_in_use_fails_at_once(
    cli_process: Callable[..., Outcome], state_dir: Path, hostile_server: Callable[[str], HostileServer],
    tmp_path: Path,
) -> None:  # fmt: skip
    server = hostile_server("html")  # python3 -m http.server stands in here
    outcome = cli_process("emulate", "up", "--port", str(server.port), "--workdir", str(tmp_path / "w"))
    # the progress line is not printed: the port is checked before anything starts
    outcome.one_line_error(2, f"port {server.port}", "in use", "--port")
    assert not (state_dir / f"emulator-{server.port}.json").exists()


def test_serve_on_a_port_in_use_exits_instead_of_hanging(
    cli_process: Callable[..., Outcome], state_dir: Path, listener: int, tmp_path: Path
) -> None:
    outcome = cli_process("emulate", "serve", "--port", str(listener), "--workdir", str(tmp_path / "w"))
    outcome.one_line_error(1, f"port {listener}", "in use")


@pytest.mark.parametrize("bad", ["0", "70000", "http"])
def test_up_bad_port_is_a_usage_error(cli: Callable[..., Outcome], state_dir: Path, bad: str) -> None:
    outcome = cli("emulate", "up", "--port", bad)
    assert outcome.code == 2 and "--port" in outcome.stderr and "Traceback" not in outcome.stderr


def test_status_of_a_killed_server_says_it_is_gone(cli: Callable[..., Outcome], state_dir: Path) -> None:
    port = free_port()
    path = _record(state_dir, port, _dead_pid())
    cli("emulate", "status", "--port", str(port)).one_line_error(3, "is gone")
    assert not path.exists()
    after = cli("emulate", "status", "--port", str(port))
    assert (after.code, after.stdout.strip()) == (3, "not running")


def test_status_of_a_live_pid_whose_port_is_silent_says_so(
    cli: Callable[..., Outcome], state_dir: Path
) -> None:
    port = free_port()
    _record(state_dir, port, os.getpid())
    cli("emulate", "status", "--port", str(port)).one_line_error(3, "does not answer")


def test_down_of_a_killed_server_clears_its_record(cli: Callable[..., Outcome], state_dir: Path) -> None:
    port = free_port()
    path = _record(state_dir, port, _dead_pid())
    outcome = cli("emulate", "down", "--port", str(port))
    assert outcome.code == 0 and "not running" in outcome.stdout
    assert not path.exists()


def test_up_after_a_killed_server_starts_anew_instead_of_saying_already_up(
    cli_process: Callable[..., Outcome], state_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    _record(state_dir, port, _dead_pid())
    outcome = cli_process(
        "emulate", "up", "--port", str(port), "--workdir", str(tmp_path / "w"),
        "--assembly", str(tmp_path / "no-such-cdk.out"),
    )  # fmt: skip
    assert outcome.code == 1, outcome.stderr
    assert "already up" not in outcome.stdout + outcome.stderr
    assert "is gone; starting a new one" in outcome.stderr
    last = outcome.stderr.strip().splitlines()[-1]
    assert last.startswith("dtrain emulate up: the emulator server exited") and "Traceback" not in last


def test_state_is_found_from_another_working_directory(
    cli_process: Callable[..., Outcome], state_dir: Path, listener: int, tmp_path: Path
) -> None:
    _record(state_dir, listener, os.getpid())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outcome = cli_process("emulate", "up", "--port", str(listener), cwd=elsewhere)
    assert outcome.code == 0 and f"AWS_ENDPOINT_URL=http://127.0.0.1:{listener}" in outcome.stdout


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dtrain", *args], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_processes(marker: str, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while len(marked_pids(marker)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _wait_for_jsii(workdir: Path, proc: subprocess.Popen[str]) -> None:
    """Until jsii's kernel has made its temporary folder (the server's TMPDIR is workdir/tmp):
    the moment at which a killed synth used to leave it behind."""
    deadline = time.monotonic() + 60
    while not list((workdir / "tmp").glob("jsii-*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the synth never started jsii"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_interrupting_up_stops_the_half_started_server(
    case_env: dict[str, str], state_dir: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    port = free_port()
    case_env[CACHE_ENV] = "off"  # a real synth to interrupt, not the synth cache's copy
    up = _start(["emulate", "up", "--port", str(port), "--workdir", str(tmp_path / "w")], case_env)
    _wait_for_processes(case_env[MARKER_ENV], 2, up)  # `up` and its server (synthesizing)
    _wait_for_jsii(tmp_path / "w", up)  # the synth's Node.js kernel is running, with its temp dir
    up.send_signal(sig)
    _, err = up.communicate(timeout=60)
    assert up.returncode == 130, err
    assert err.strip().splitlines()[-1] == "dtrain emulate up: interrupted: the emulator server was stopped"
    assert wait_gone(case_env[MARKER_ENV], seconds=20) == []
    assert not (state_dir / f"emulator-{port}.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_the_server_stops_on_a_signal_while_it_synthesizes(
    case_env: dict[str, str], state_dir: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    port = free_port()
    case_env[CACHE_ENV] = "off"  # a real synth to interrupt, not the synth cache's copy
    serve = _start(["emulate", "serve", "--port", str(port), "--workdir", str(tmp_path / "w")], case_env)
    _wait_for_processes(case_env[MARKER_ENV], 1, serve)
    _wait_for_jsii(tmp_path / "w", serve)  # inside the synth
    serve.send_signal(sig)
    _, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err
    assert "Traceback" not in err
    assert wait_gone(case_env[MARKER_ENV], seconds=20) == []
