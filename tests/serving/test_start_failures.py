"""A model server that fails to start: the error names its exit code and carries its log's last lines.

The log may be gone by the time anyone looks (the emulator removes an endpoint's scratch folder,
pytest its tmp_path), so the error itself must say why. The servers here are real processes whose
output goes through the same LogPump as TorchServe's and tf_serve's; the gunicorn case is the TF
Serving image's own gunicorn (.venv-tfs) failing to bind a port another process holds.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dtrain.ports import LOOPBACK
from dtrain.serving.server import DEFAULT_TFS_PYTHON, ServerHandle, wait_until_ready
from dtrain.serving.torchserve import LogPump, ServerStartError
from dtrain.serving.torchserve import wait_until_ready as wait_until_model_ready


def _started(code: str) -> tuple[subprocess.Popen[bytes], LogPump]:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    return process, LogPump(process.stdout, io.BytesIO())


def test_a_server_that_exits_at_start_names_its_exit_code_and_the_end_of_its_log() -> None:
    process, pump = _started(
        "import sys\nfor i in range(30): print(f'starting step {i}')\n"
        "print('OSError: [Errno 98] Address already in use', file=sys.stderr)\nsys.exit(7)"
    )
    with pytest.raises(ServerStartError) as raised:
        wait_until_model_ready(process, "http://127.0.0.1:9", pump, 60, " (log: server.log)")
    message = str(raised.value)
    assert "exited with code 7 before it was ready (log: server.log)" in message
    assert message.endswith("starting step 29 | OSError: [Errno 98] Address already in use")
    assert "starting step 0 " not in message  # the tail, not the whole log
    assert "\n" not in message  # the CLI prints an error as one line


def test_a_server_never_ready_says_so_with_the_end_of_its_log() -> None:
    process, pump = _started("import time\nprint('still loading the model', flush=True)\ntime.sleep(60)")
    try:
        with pytest.raises(
            ServerStartError, match=r"not ready within 2 s; its log ends: still loading the model"
        ):
            wait_until_model_ready(process, "http://127.0.0.1:9", pump, 2, "")
    finally:
        process.kill()
        process.wait()


def test_a_model_that_does_not_load_is_reported_by_its_own_error_even_when_it_comes_second() -> None:
    """CI-H's order: TorchServe's frontend logs "Load model failed" from one thread and relays the
    worker's traceback (MODEL_LOG) from another, so the traceback may follow. The error waits for
    it rather than stopping the server on the first line and losing the one line that says why."""
    process, pump = _started(
        "import time\n"
        "print('2026 [INFO ] W-9000-model - Load model failed: model, error: Worker died.', flush=True)\n"
        "time.sleep(1)\n"
        "print('2026 [INFO ] W-9000-model-stdout MODEL_LOG - OSError: weights gone', flush=True)\n"
        "time.sleep(60)"
    )
    try:
        with pytest.raises(ServerStartError, match=r"the model did not load: OSError: weights gone$"):
            wait_until_model_ready(process, "http://127.0.0.1:9", pump, 30, "")
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("holder", ["bound", "listening"])
def test_gunicorn_that_cannot_bind_its_port_fails_the_start_with_gunicorns_own_words(
    tmp_path: Path, holder: str
) -> None:
    """What a port taken between its pick and gunicorn's bind looks like (CI8's failure): gunicorn
    retries the bind five times, a second apart, then exits 1; the error quotes it. The port is
    held by a socket only bound (as an outgoing connection's local port) or listening and never
    answering (the wait's /ping must not block past gunicorn's exit). About 6 s and 11 s: gunicorn's
    retries, and one /ping try's time-out."""
    with socket.socket() as held:
        held.bind((LOOPBACK, 0))
        if holder == "listening":
            held.listen()
        port = held.getsockname()[1]
        process = subprocess.Popen(
            [str(DEFAULT_TFS_PYTHON), "-m", "gunicorn", "--bind", f"{LOOPBACK}:{port}", "no_such_app:app"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        pump = LogPump(process.stdout, io.BytesIO())
        handle = ServerHandle(f"http://{LOOPBACK}:{port}", process, tmp_path, "tensorflow", 1, pump=pump)
        with pytest.raises(ServerStartError) as raised:
            wait_until_ready(handle, pump, 60, tmp_path / "server.log")
    message = str(raised.value)
    assert "exited with code 1 before it was ready" in message
    assert f"Connection in use: ('{LOOPBACK}', {port})" in message
    assert f"Can't connect to ('{LOOPBACK}', {port})" in message
