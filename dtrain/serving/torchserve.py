"""A PyTorch model behind TorchServe, started as the SageMaker PyTorch inference image starts it.

The image (aws/deep-learning-containers pytorch/inference) runs sagemaker-pytorch-inference's
`serve`: TorchServe 0.12 (Java 17) with sagemaker-inference's handler service, which imports
`/opt/ml/model/code/inference.py` and runs model_fn once per worker, then input_fn ->
predict_fn -> output_fn per request, the toolkit's defaults for what it leaves out. Here the same
packages run (requirements-dev.txt pins them; Java 17 from Debian, scripts/install_system_deps.sh);
dtrain only lays out the directories the image has and gives each server its own ports:

- `<scratch>/ml/model` -> the unpacked model (SAGEMAKER_BASE_DIR=<scratch>/ml: the toolkit's
  /opt/ml), so `code/inference.py` and `code/requirements.txt` are where the toolkit looks; the
  requirements are installed by the toolkit itself (`pip install -r`, into this interpreter, as
  into the image's);
- the working directory `<scratch>` (the toolkit's model store `.sagemaker/ts/models`, TorchServe's
  `logs/`), TEMP/TMPDIR `<scratch>/tmp` (TorchServe's pid file and its workers' sockets);
- the model's environment (SAGEMAKER_PROGRAM, SAGEMAKER_MODEL_SERVER_WORKERS, ..._TIMEOUT,
  SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, TS_*) is the server's environment, read by the toolkit
  and TorchServe with their own defaults.

Ready: `GET /ping` answers 200 and the model has a READY worker (TorchServe answers /ping before
the workers have loaded the model; requests then wait in its queue). A model whose model_fn
fails is retried by TorchServe for minutes; its "Load model failed" ends the wait here at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from dtrain.ports import bind_error, free_port
from dtrain.remote.errors import RemoteError, UsageError
from dtrain.serving.torchserve_entry import (
    CONFIG_FILE_ENV,
    MODEL_PYTHONPATH_ENV,
    OVERRIDES_ENV,
    PARENT_PID_ENV,
)

MODEL_NAME = "model"  # the toolkit's DEFAULT_TS_MODEL_NAME
WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
# TorchServe's frontend logs these when a worker dies before it has loaded the model (an import
# error in inference.py, model_fn raising): it then retries the worker with back-off, for minutes.
LOAD_FAILED_MARKERS = ("Load model failed", "Backend worker error", "Retry worker:")
# JVM start-up: the toolkit's own vmargs, plus the C1 compiler only and the serial collector (a
# server of one model answers from Python workers; the JVM only routes): seconds less to the
# first /ping and less memory on a small machine. Behaviour is the same.
# A worker's Unix socket is `<java.io.tmpdir>/.ts.sock.<port>`; AF_UNIX paths end at 108 bytes with
# the closing NUL (sun_path, unix(7)), and TorchServe fails with "AF_UNIX path too long" past it.
SOCKET_NAME_LENGTH = len("/tmp/.ts.sock.65535")
UNIX_PATH_MAX = 107
SHORT_TEMP_ROOT = "/tmp"
JVM_ARGS = "-XX:-UseContainerSupport -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto"
# A server that failed to start: its error carries the end of its log, on one line (the CLI prints
# errors as one line; an emulated endpoint's FailureReason is one string), so the cause is there
# even where the log is gone with its scratch folder (the emulator's, pytest's tmp_path).
ERROR_TAIL_LINES = 12
# The frontend logs "Load model failed" from the worker's thread and the worker's own stderr (its
# traceback, MODEL_LOG) from a reader thread of its own: either may come first. Stopping the server
# the moment the first arrives can lose the traceback, the one line that says why; this long, at
# most, is given for it to follow.
MODEL_ERROR_GRACE_S = 5.0
ERROR_TAIL_CHARS = 1000


class ServerStartError(RemoteError):
    """The server exited or never became ready (the model did not load)."""


def check_port(host: str, port: int) -> None:
    """A usage error now, where TorchServe would only log that it cannot bind."""
    error = bind_error(port, host)
    if error is not None:
        raise UsageError(f"--port: cannot listen on {host}:{port}: {error.strerror or error}")


def properties(host: str, port: int, tmp: Path) -> str:
    """This server's addresses, appended after the toolkit's (a later key wins)."""
    metrics, grpc_inference, grpc_management = (free_port(host) for _ in range(3))
    lines = [
        "",
        f"inference_address=http://{host}:{port}",
        f"management_address=http://{host}:{port}",
        f"metrics_address=http://{host}:{metrics}",
        f"grpc_inference_address={host}",
        f"grpc_inference_port={grpc_inference}",
        f"grpc_management_address={host}",
        f"grpc_management_port={grpc_management}",
        f"vmargs={JVM_ARGS} -Djava.io.tmpdir={tmp}",
        "",
    ]
    return "\n".join(lines)


def server_env(
    model_env: dict[str, str] | None, scratch: Path, host: str, port: int, workers: int | None
) -> dict[str, str]:
    tmp = scratch / "tmp"
    env = dict(os.environ)
    env.update(model_env or {})
    if workers is not None:
        env[WORKERS_ENV] = str(workers)
    repo_root = str(Path(__file__).resolve().parents[2])
    env[MODEL_PYTHONPATH_ENV] = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env.update(
        {
            "SAGEMAKER_BASE_DIR": str(scratch / "ml"),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "TEMP": str(tmp),
            "TMPDIR": str(tmp),
            CONFIG_FILE_ENV: str(scratch / "sagemaker-ts.properties"),
            OVERRIDES_ENV: properties(host, port, tmp),
            PARENT_PID_ENV: str(os.getpid()),
        }
    )
    # N workers share the cores: each one's intra-op thread pool gets its share.
    count = int(env.get(WORKERS_ENV) or 0) or (os.cpu_count() or 1)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // count)))
    return env


class LogPump:
    """Copies the server's output (launcher, JVM, workers) to its log, watching for a load failure."""

    def __init__(self, stream: IO[bytes], sink: IO[bytes]) -> None:
        self.load_failed: str | None = None
        self.model_error = ""  # the last error line of the workers' stderr (TorchServe's MODEL_LOG)
        self.tail: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(stream, sink), daemon=True)
        self._thread.start()

    def _run(self, stream: IO[bytes], sink: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            with contextlib.suppress(OSError, ValueError):
                sink.write(raw)
                sink.flush()
            line = raw.decode("utf-8", "replace").rstrip()
            self.tail = [*self.tail[-39:], line]
            if "MODEL_LOG - " in line and ("Error" in line or "Exception" in line):
                self.model_error = line.split("MODEL_LOG - ", 1)[1]
            if self.load_failed is None and any(m in line for m in LOAD_FAILED_MARKERS):
                self.load_failed = line
        stream.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def wait_for_model_error(self, timeout: float) -> None:
        """Wait up to `timeout` for the workers' error line (or the end of the log)."""
        deadline = time.monotonic() + timeout
        while not self.model_error and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def last_lines(self) -> str:
        """The log's last non-blank lines joined by " | ", at most ERROR_TAIL_CHARS (the end kept)."""
        text = " | ".join(line.strip() for line in self.tail[-ERROR_TAIL_LINES:] if line.strip())
        return text if len(text) <= ERROR_TAIL_CHARS else "..." + text[-ERROR_TAIL_CHARS:]


def not_ready(message: str, pump: LogPump) -> ServerStartError:
    """`message` and the end of the server's log: what a start that failed tells its caller."""
    said = pump.last_lines()
    return ServerStartError(f"{message}; its log ends: {said}" if said else f"{message}; its log is empty")


def start_torchserve(
    model_dir: Path,
    *,
    host: str,
    port: int,
    workers: int | None,
    env: dict[str, str] | None,
    log_file: Path | None,
) -> tuple[subprocess.Popen[bytes], Path, LogPump, IO[bytes] | None, str]:
    """Start `serve` for `model_dir`: (process, scratch dir, log pump, log file, URL)."""
    if port:
        check_port(host, port)
    else:
        port = free_port(host)
    scratch = make_scratch()
    (scratch / "ml").mkdir()
    (scratch / "tmp").mkdir()
    (scratch / "ml" / "model").symlink_to(model_dir, target_is_directory=True)
    log = open(log_file, "ab") if log_file else None  # noqa: SIM115 - closed by ServerHandle.stop
    sink: IO[bytes] = log if log is not None else sys.stderr.buffer
    process = subprocess.Popen(
        [sys.executable, "-m", "dtrain.serving.torchserve_entry"],
        cwd=scratch,
        env=server_env(env, scratch, host, port, workers),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: JVM and workers are stopped with it
    )
    assert process.stdout is not None
    pump = LogPump(process.stdout, sink)
    return process, scratch, pump, log, f"http://{host}:{port}"


def make_scratch() -> Path:
    """The server's private scratch (mode 0700): under TMPDIR, or under /tmp where TMPDIR is too
    deep for the workers' socket paths; a usage error naming TMPDIR where neither fits."""
    scratch = Path(tempfile.mkdtemp(prefix="dtrain-ts-"))
    if len(str(scratch)) + SOCKET_NAME_LENGTH <= UNIX_PATH_MAX:
        return scratch
    scratch.rmdir()
    with contextlib.suppress(OSError):
        short = Path(tempfile.mkdtemp(prefix="dtrain-ts-", dir=SHORT_TEMP_ROOT))
        if len(str(short)) + SOCKET_NAME_LENGTH <= UNIX_PATH_MAX:
            return short
        short.rmdir()
    raise UsageError(
        f"TMPDIR {tempfile.gettempdir()!r} is too deep for TorchServe's worker sockets "
        f"(Unix socket paths end at {UNIX_PATH_MAX + 1} bytes) and {SHORT_TEMP_ROOT} cannot hold it: "
        "set TMPDIR to a shorter directory"
    )


def model_ready(url: str) -> bool:
    """GET /ping is 200 and the model has a worker in state READY (management API, same port)."""
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=5) as reply:
            if reply.status != 200:
                return False
        with urllib.request.urlopen(f"{url}/models/{MODEL_NAME}", timeout=5) as reply:
            described = json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(w.get("status") == "READY" for m in described for w in m.get("workers", []))


def wait_until_ready(
    process: subprocess.Popen[bytes], url: str, pump: LogPump, timeout: float, where: str
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            pump.join(5.0)
            raise not_ready(f"the model server exited with code {code} before it was ready{where}", pump)
        if pump.load_failed is not None:
            pump.wait_for_model_error(MODEL_ERROR_GRACE_S)
            reason = pump.model_error or pump.load_failed
            raise ServerStartError(f"the model did not load{where}: {reason}")
        if model_ready(url):
            return
        time.sleep(0.2)
    raise not_ready(f"the model server was not ready within {timeout:.0f} s{where}", pump)


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
