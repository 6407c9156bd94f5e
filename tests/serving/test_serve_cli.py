"""`dtrain serve MODEL` and `dtrain predict URL FILE` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dtrain.cli import main

REPO = Path(__file__).resolve().parents[2]


def _serve(model: Path | str, *extra: str, temp: Path | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if temp is not None:
        env["TMPDIR"] = str(temp)
    return subprocess.Popen(
        [sys.executable, "-m", "dtrain", "serve", str(model), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _short_temp(request: pytest.FixtureRequest) -> Path:
    """A short TMPDIR of its own for a serve: TorchServe's workers bind a unix socket under it, and
    AF_UNIX paths end at 108 bytes (pytest-xdist's tmp_path is too deep: "OSError: AF_UNIX path
    too long"); the stop tests look at what is left in it."""
    temp = Path(tempfile.mkdtemp(prefix="ts-"))
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    return temp


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    temp: Path  # its TMPDIR


@pytest.fixture(scope="module")
def served_archive(trained_archive: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """`dtrain serve model.tar.gz --port 0 --workers 1`; its first stdout line is the URL. The
    predict tests ask it, then test_sigterm_stops_... stops it (one server start fewer, ~4 CPU-s)."""
    temp = _short_temp(request)
    process = _serve(trained_archive, "--workers", "1", temp=temp)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.stderr else ""
    yield Served(process, url, temp)
    if process.poll() is None:
        process.terminate()  # serve stops its server on SIGTERM
        process.wait(timeout=60)


def test_predict_a_npy_file_against_the_served_archive(
    served_archive: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = served_archive.url
    images = tmp_path / "images.npy"
    np.save(images, np.zeros((3, 32, 32, 3), dtype=np.uint8))
    assert main(["predict", url, str(images)]) == 0
    probabilities = np.array(json.loads(capsys.readouterr().out))
    assert probabilities.shape == (3, 10)


def test_predict_writes_the_answer_to_a_file(served_archive: Served, tmp_path: Path) -> None:
    url = served_archive.url
    images = tmp_path / "images.json"
    images.write_text(json.dumps(np.zeros((32, 32, 3), dtype=int).tolist()))
    out = tmp_path / "answer.npy"
    assert main(["predict", url, str(images), "--accept", "application/x-npy", "-o", str(out)]) == 0
    assert np.load(out).shape == (1, 10)


def test_predict_reports_the_models_error_in_one_line_exit_1(
    served_archive: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = served_archive.url
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2, 3]")
    assert main(["predict", url, str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"dtrain predict: {url}/invocations answered 400: "
        "images must be (N, 32, 32, 3) or (N, 3, 32, 32); got shape (3,)"
    )


def test_predict_needs_a_content_type_it_cannot_guess(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "images.bin"
    data.write_bytes(b"x")
    assert main(["predict", "http://127.0.0.1:9/", str(data)]) == 2
    assert "--content-type" in capsys.readouterr().err


def test_serve_refuses_a_missing_model_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tmp_path / "nope.tar.gz"), "--port", "0"]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_serve_reports_a_model_that_does_not_load_exit_3(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(
        "def model_fn(model_dir):\n    raise OSError('weights gone')\n"
    )
    process = _serve(tmp_path, "--workers", "1")
    _, err = process.communicate(timeout=180)
    assert process.returncode == 3
    assert "OSError: weights gone" in err  # the worker's traceback is in the log
    assert "dtrain serve: the model did not load" in err


def _assert_a_stop_signal_stops_serve(
    process: subprocess.Popen[str], url: str, temp: Path, signum: int
) -> None:
    """`signum` ends serve with 0, its server's port is closed, and nothing is left in its TMPDIR."""
    port = int(url.rsplit(":", 1)[1])
    assert sorted(p.name[:10] for p in temp.iterdir()) == ["dtrain-ser", "dtrain-ts-"]
    process.send_signal(signum)
    assert process.wait(timeout=60) == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert list(temp.iterdir()) == []  # the unpacked model and TorchServe's scratch are gone


def test_sighup_stops_serve_its_server_and_removes_its_temp_dirs(
    trained_archive: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A server of its own (a JVM start, ~10-40 s on 2 busy cores): SIGHUP is a closed terminal,
    it stops serve as SIGTERM does (test_sigterm_stops_...)."""
    temp = _short_temp(request)
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(temp))
    errors = tmp_path / "serve.err"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "dtrain", "serve", str(trained_archive), "--port", "0", "--workers", "1"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    assert process.stdout is not None
    # The URL line; anything serve printed before it (or why it ended without one) is in the message.
    lines = [process.stdout.readline()]
    while lines[-1] and not lines[-1].startswith("http"):
        lines.append(process.stdout.readline())
    assert lines[-1].startswith("http"), f"{lines} {errors.read_text()[-3000:]}"
    _assert_a_stop_signal_stops_serve(process, lines[-1].strip(), temp, signal.SIGHUP)


def test_sigterm_stops_serve_its_server_and_removes_its_temp_dirs(served_archive: Served) -> None:
    """The predict tests' server, stopped after them (this file's tests run in its order, on one
    xdist worker: tests/conftest.py), as a user stops serve."""
    _assert_a_stop_signal_stops_serve(
        served_archive.process, served_archive.url, served_archive.temp, signal.SIGTERM
    )


def test_serve_on_a_port_in_use_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", str(tmp_path), "--port", str(port)]) == 2
    assert f"--port: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_server_stops_itself_when_serve_is_killed_outright(trained_archive: Path) -> None:
    """SIGKILL leaves serve no chance to stop TorchServe: the server's `serve` sees its parent gone
    and stops TorchServe by itself."""
    process = _serve(trained_archive, "--workers", "1")
    assert process.stdout is not None
    port = int(process.stdout.readline().strip().rsplit(":", 1)[1])
    process.kill()
    process.wait()
    deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except OSError:
            return
        time.sleep(0.5)
    pytest.fail(f"the server on port {port} outlived the killed dtrain serve")


def test_an_invalid_worker_count_in_the_shell_is_a_usage_error_as_with_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same value through --env was already a usage error; from the shell it fell back silently.
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "two")
    assert main(["serve", str(tmp_path), "--port", "0"]) == 2
    assert "SAGEMAKER_MODEL_SERVER_WORKERS: 'two'" in capsys.readouterr().err
    monkeypatch.delenv("SAGEMAKER_MODEL_SERVER_WORKERS")
    assert main(["serve", str(tmp_path), "--port", "0", "--env", "SAGEMAKER_MODEL_SERVER_WORKERS=0"]) == 2
    assert "SAGEMAKER_MODEL_SERVER_WORKERS: '0'" in capsys.readouterr().err
