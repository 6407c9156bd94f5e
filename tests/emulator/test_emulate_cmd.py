"""`dtrain emulate up|status|down`: the full app deployed into a background emulator server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from dtrain.cli import main
from dtrain.emulator.server_state import STATE_DIR_ENV, process_identity, state_file
from dtrain.ports import free_port


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The state file lives in the user's state directory: each test gets its own.
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))


def test_status_and_down_when_nothing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["emulate", "status"]) == 3  # LSB's "not running": `status || up` starts one
    assert main(["emulate", "down"]) == 0
    assert capsys.readouterr().out.splitlines() == ["not running", "not running"]


@contextmanager
def _running_emulator_record() -> Iterator[int]:
    """A port that answers and a state record naming a live pid (ours) on it: what `emulate up`
    leaves behind, without starting a server. Yields the port."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        state = state_file(port)
        state.parent.mkdir(parents=True)
        record = {
            "pid": os.getpid(),
            "endpoint": f"http://127.0.0.1:{port}",
            **(process_identity(os.getpid()) or {}),
        }
        state.write_text(json.dumps(record))
        yield port


def test_up_when_already_up_points_at_the_running_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with _running_emulator_record() as port:
        assert main(["emulate", "up", "--port", str(port)]) == 0
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in capsys.readouterr().out


def test_status_and_down_address_the_port_aws_endpoint_url_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `up --port P` and its export line, `status` and `down` without --port address P
    (they looked at 4599 and answered "not running" while the emulator ran on)."""
    monkeypatch.chdir(tmp_path)
    with _running_emulator_record() as port:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        assert main(["emulate", "status"]) == 0
        assert json.loads(capsys.readouterr().out)["endpoint"] == f"http://127.0.0.1:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", "https://sagemaker.us-east-1.amazonaws.com")
        assert main(["emulate", "status"]) == 3  # not this machine: the default port, where none runs


def test_up_names_a_missing_iam_simulator_before_it_synthesizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Enforcement needs the simulator's Node package: `up` says so at once (it found out only
    after the ~30 s synth, in the server's log) and starts nothing."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DTRAIN_NODE_MODULES", str(tmp_path / "node_modules"))
    assert main(["emulate", "up", "--port", str(free_port())]) == 1
    said = capsys.readouterr().err
    assert "@cloud-copilot/iam-simulate is not installed" in said and "--no-enforce" in said
    assert "synthesizing" not in said
    assert not (tmp_path / ".dtrain").exists()


def test_up_takes_the_cdk_app_of_the_folder_it_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a platform team's folder (its own cdk.json), `up` deploys that app, synthesized by the
    CDK CLI, as `cdk deploy` there would (it deployed dtrain's own app); from dtrain's checkout
    or a folder without cdk.json, dtrain's app. The team case end to end (examples/platform_app:
    AcmeNetwork and AcmeMl* CREATE_COMPLETE in 35 s) is too slow for the suite."""
    from dtrain.commands.emulate_cmd import other_cdk_app
    from dtrain.package_data import cdk_json

    assert other_cdk_app(tmp_path) is None
    assert other_cdk_app(cdk_json().parent) is None
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python3 app.py"}))
    assert other_cdk_app(tmp_path) == tmp_path / "cdk.json"


def test_up_reports_a_team_app_that_does_not_synthesize_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "false"}))
    monkeypatch.setenv(
        "PATH", f"{Path(__file__).resolve().parents[2] / 'node_modules' / '.bin'}:{os.environ['PATH']}"
    )
    assert main(["emulate", "up", "--no-enforce", "--port", str(free_port())]) == 1
    said = capsys.readouterr().err
    assert "cdk synth of" in said and "failed" in said
    assert "deploying" not in said


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dtrain", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, STATE_DIR_ENV: str(cwd / "state")},
    )  # fmt: skip


@pytest.mark.slow
def test_up_deploys_the_full_app_behind_an_endpoint_then_down_stops_it(tmp_path: Path) -> None:
    port = free_port()
    up = _cli("emulate", "up", "--port", str(port), cwd=tmp_path)
    state = tmp_path / "state" / f"emulator-{port}.json"
    try:
        assert up.returncode == 0, up.stderr + (tmp_path / ".dtrain/emulator/server.log").read_text()
        lines = up.stdout.splitlines()
        # The honest line: what the emulator enforces, what it does not, what it could not model.
        assert lines[0].startswith(
            "emulator: enforced: IAM identity, trust, bucket, topic, function, key and EFS"
        )
        assert "not enforced: security groups, VPC routing" in lines[0]
        assert "AWS::FSx::FileSystem" in lines[0]
        assert lines[-1].startswith(f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port} ")

        cfn = boto3.client(
            "cloudformation",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="emulator",
            aws_secret_access_key="emulator",
        )
        stacks = {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}
        assert stacks == dict.fromkeys(
            ["DtrainNetwork", "DtrainStorage", "DtrainTraining", "DtrainOrchestration"], "CREATE_COMPLETE"
        )
        status = _cli("emulate", "status", "--port", str(port), cwd=tmp_path)
        assert json.loads(status.stdout)["stacks"]["DtrainOrchestration"]["StateMachineArn"].startswith(
            "arn:aws:states:"
        )

        down = _cli("emulate", "down", "--port", str(port), cwd=tmp_path)
        assert down.returncode == 0 and "stopped emulator" in down.stdout
        assert not state.exists()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if state.exists():  # never leave a server behind a failed assertion
            os.kill(int(json.loads(state.read_text())["pid"]), signal.SIGTERM)


def test_the_local_backend_skips_empty_log_lines(tmp_path: Path) -> None:
    # CloudWatch Logs rejects empty messages; one blank line must not fail the job.
    import threading

    from moto import mock_aws

    from dtrain.emulator.local_backend import LOG_GROUP, local_sagemaker_backend

    backend = local_sagemaker_backend(tmp_path)
    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        pending = [("algo-1", "step 1"), ("algo-1", ""), ("algo-2", "done")]
        backend._flush_logs(logs, "job", pending, threading.Lock())
        messages = [
            e["message"]
            for stream in ("job/algo-1", "job/algo-2")
            for e in logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream)["events"]
        ]
    assert messages == ["step 1", "done"]
    assert pending == []
