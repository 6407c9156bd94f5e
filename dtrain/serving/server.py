"""`start_server(model_dir)`: a model served as SageMaker's framework image serves it, ready when it returns.

- PyTorch: TorchServe started by sagemaker-pytorch-inference's `serve` with sagemaker-inference's
  handler service, the packages SageMaker's PyTorch inference image runs (`torchserve.py`).
- TensorFlow SavedModel: the TF Serving image's `serve` steps (`tf_serve.py`) in an interpreter
  holding exactly that image's Python packages (.venv-tfs, or $DTRAIN_TFS_PYTHON): its Python
  service for the model's handlers (`tf_python_service.py`, gunicorn + falcon) in front of TF
  Serving's REST API, which TensorFlow answers (`tf_model_server.py`, in .venv-hvd or
  $DTRAIN_TF_PYTHON): TF Serving's binary is not installable here.

Every server runs in a session of its own, so stop() reaps its whole tree (the JVM and its
Python workers; the model server and gunicorn's workers) and removes its scratch directory; a
server whose starter is killed outright stops by itself (torchserve_entry, parent_watch).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dtrain.ports import free_port
from dtrain.remote.errors import UsageError
from dtrain.serving import tf_serve
from dtrain.serving.tf_models import has_saved_model
from dtrain.serving.torchserve import (
    LogPump,
    ServerStartError,
    check_port,
    make_scratch,
    not_ready,
    remove_scratch,
    start_torchserve,
)
from dtrain.serving.torchserve import wait_until_ready as wait_until_model_ready

__all__ = ["ServerHandle", "ServerStartError", "start_server"]

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("pytorch", "tensorflow")
TF_PYTHON_ENV = tf_serve.TF_PYTHON_ENV  # TensorFlow, which runs the SavedModel
DEFAULT_TF_PYTHON = REPO_ROOT / ".venv-hvd" / "bin" / "python"
TFS_PYTHON_ENV = "DTRAIN_TFS_PYTHON"  # the TF Serving image's Python packages, which run the handlers
DEFAULT_TFS_PYTHON = REPO_ROOT / ".venv-tfs" / "bin" / "python"
# The TF Serving image's gunicorn workers (serve.py: SAGEMAKER_GUNICORN_WORKERS, default 1); it
# does not read SAGEMAKER_MODEL_SERVER_WORKERS, the PyTorch toolkit's.
GUNICORN_WORKERS_ENV = "SAGEMAKER_GUNICORN_WORKERS"
DEFAULT_READY_SECONDS = 180.0
PING_SECONDS = 5.0


# The SDK's Model(model_server_workers=N) sets this in the model's Environment.
MODEL_SERVER_WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
# start_server's default for library callers and tests; `dtrain serve` defaults to one worker
# per CPU, as the inference toolkits do (serve_cmd.default_workers).
DEFAULT_WORKERS = 2


def model_server_workers(env: dict[str, str]) -> int:
    text = env.get(MODEL_SERVER_WORKERS_ENV, "")
    if not text:
        return DEFAULT_WORKERS
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{MODEL_SERVER_WORKERS_ENV}: {text!r}: must be a whole number of at least 1")
    return int(text)


@dataclass(eq=False)
class ServerHandle:
    url: str
    process: subprocess.Popen[bytes]
    model_dir: Path
    framework: str
    workers: int
    _log: IO[bytes] | None = field(default=None, repr=False)
    scratch: Path | None = None  # TorchServe's working tree, removed by stop()
    pump: LogPump | None = field(default=None, repr=False)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the server's first process (gunicorn's master, or `serve`, which passes it
        to TorchServe: workers finish their request), then SIGKILL to its whole process group: a
        SIGKILLed master cannot stop its workers, which would go on serving the model (the server
        runs in a session of its own, start_new_session)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.process.wait()
        self._kill_group()  # workers a master that died first left behind
        if self.pump is not None:
            self.pump.join(5.0)
        if self.scratch is not None:
            remove_scratch(self.scratch)
        if self._log is not None:
            self._log.close()
            self._log = None
        _RUNNING.discard(self)

    def _kill_group(self) -> None:
        # ProcessLookupError: the group is gone (every process of it exited).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


_RUNNING: set[ServerHandle] = set()


@atexit.register
def _stop_all() -> None:
    for handle in list(_RUNNING):
        handle.stop(timeout=5.0)


def detect_framework(model_dir: Path) -> str:
    return "tensorflow" if has_saved_model(model_dir) else "pytorch"


def _interpreter(configured: str | None, default: Path, what: str, variable: str) -> str:
    python = Path(configured) if configured else default
    if not python.exists():
        raise UsageError(
            f"a TensorFlow SavedModel is served by {what}: {python} does not exist "
            f"(make setup builds {default.parent.parent.name}, or set {variable})"
        )
    return str(python)


def tensorflow_interpreters() -> tuple[str, str]:
    """(the TF Serving image's Python, TensorFlow's Python), each checked to exist."""
    serving = _interpreter(
        os.environ.get(TFS_PYTHON_ENV),
        DEFAULT_TFS_PYTHON,
        "the TF Serving image's Python packages",
        TFS_PYTHON_ENV,
    )
    tensorflow = _interpreter(os.environ.get(TF_PYTHON_ENV), DEFAULT_TF_PYTHON, "TensorFlow", TF_PYTHON_ENV)
    return serving, tensorflow


def start_server(
    model_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int | None = None,
    framework: str | None = None,
    log_file: Path | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = DEFAULT_READY_SECONDS,
) -> ServerHandle:
    """Serve the unpacked model in `model_dir`; returns once `GET /ping` answers 200.

    `env` adds to the workers' environment (a SageMaker Model's Environment: SAGEMAKER_PROGRAM,
    SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT...). `workers` None: the model's
    SAGEMAKER_MODEL_SERVER_WORKERS (the SDK's `model_server_workers`), else 2. `log_file` takes
    gunicorn's and the workers' logs (default: this process's stderr).
    """
    model_dir = Path(model_dir).resolve()
    if not model_dir.is_dir():
        raise UsageError(f"model directory {model_dir} does not exist")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers: {workers}: must be at least 1")
    framework = framework or detect_framework(model_dir)
    if framework not in FRAMEWORKS:
        raise UsageError(f"framework: {framework!r}: must be one of {', '.join(FRAMEWORKS)}")
    if framework == "pytorch":
        return _start_pytorch(model_dir, host, port, workers, env, log_file, ready_timeout)
    return _start_tensorflow(model_dir, host, port, workers, env, log_file, ready_timeout)


def _tensorflow_env(
    scratch: Path,
    model_dir: Path,
    host: str,
    port: int,
    workers: int | None,
    env: dict[str, str] | None,
    tensorflow_python: str,
) -> dict[str, str]:
    """tf_serve's environment, and its folders in `scratch`: the model as <scratch>/ml/model."""
    (scratch / "ml").mkdir()
    (scratch / "ml" / "model").symlink_to(model_dir, target_is_directory=True)
    # Only dtrain on the servers' path: the checkout's root (or an installed dtrain's site-packages,
    # numpy and all) would put packages into the image's Python that the image does not have.
    (scratch / "pythonpath").mkdir()
    (scratch / "pythonpath" / "dtrain").symlink_to(
        Path(__file__).resolve().parents[1], target_is_directory=True
    )
    server_env = dict(os.environ)
    server_env.update(env or {})
    if workers is not None:
        server_env[GUNICORN_WORKERS_ENV] = str(workers)
    server_env.update(
        {
            "SAGEMAKER_BASE_DIR": str(scratch / "ml"),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            tf_serve.HOST_ENV: host,
            tf_serve.MODEL_PORT_ENV: str(free_port("127.0.0.1")),
            tf_serve.PARENT_PID_ENV: str(os.getpid()),
            TF_PYTHON_ENV: tensorflow_python,
            tf_serve.DTRAIN_PATH_ENV: str(scratch / "pythonpath"),
            "PYTHONPATH": str(scratch / "pythonpath"),
        }
    )
    # The image's serve.py sets OMP_NUM_THREADS=1 unless the model's environment sets it.
    server_env.setdefault("OMP_NUM_THREADS", "1")
    return server_env


def _start_tensorflow(
    model_dir: Path,
    host: str,
    port: int,
    workers: int | None,
    env: dict[str, str] | None,
    log_file: Path | None,
    ready_timeout: float,
) -> ServerHandle:
    """tf_serve in the TF Serving image's Python, the model under <scratch>/ml/model as /opt/ml/model."""
    serving_python, tensorflow_python = tensorflow_interpreters()
    if port:
        check_port(host, port)
    else:
        port = free_port(host)
    scratch = make_scratch()
    server_env = _tensorflow_env(scratch, model_dir, host, port, workers, env, tensorflow_python)
    count = int(server_env.get(GUNICORN_WORKERS_ENV) or 1)
    log = open(log_file, "ab") if log_file else None  # noqa: SIM115 - closed by ServerHandle.stop
    process = subprocess.Popen(
        [serving_python, "-m", "dtrain.serving.tf_serve"],
        cwd=scratch,
        env=server_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the model server and gunicorn stop with it
    )
    assert process.stdout is not None
    pump = LogPump(process.stdout, log if log is not None else sys.stderr.buffer)
    handle = ServerHandle(
        f"http://{host}:{port}", process, model_dir, "tensorflow", count, log, scratch, pump
    )
    _RUNNING.add(handle)
    try:
        wait_until_ready(handle, pump, ready_timeout, log_file)
    except BaseException:
        handle.stop()
        raise
    return handle


def wait_until_ready(handle: ServerHandle, pump: LogPump, timeout: float, log_file: Path | None) -> None:
    deadline = time.monotonic() + timeout
    where = f" (log: {log_file})" if log_file else " (its log is above)"
    while time.monotonic() < deadline:
        code = handle.process.poll()
        if code is not None:
            pump.join(5.0)
            # tf_serve's own last word (which server exited, a model that did not load) leads.
            said = [line for line in pump.tail if line.startswith("tf_serve: ")]
            reason = f": {said[-1].removeprefix('tf_serve: ')}" if said else ""
            raise not_ready(
                f"the model server exited with code {code} before it was ready{where}{reason}", pump
            )
        # At most PING_SECONDS a try: a listener that never answers (not ours: our server failed to
        # bind its port) must not hold the wait past our server's exit.
        remaining = max(1.0, deadline - time.monotonic())
        try:
            with urllib.request.urlopen(f"{handle.url}/ping", timeout=min(PING_SECONDS, remaining)) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise not_ready(f"the model server did not answer /ping within {timeout:.0f} s{where}", pump)


def _start_pytorch(
    model_dir: Path,
    host: str,
    port: int,
    workers: int | None,
    env: dict[str, str] | None,
    log_file: Path | None,
    ready_timeout: float,
) -> ServerHandle:
    if workers is None and (env or {}).get(MODEL_SERVER_WORKERS_ENV):
        workers = model_server_workers(env or {})
    process, scratch, pump, log, url = start_torchserve(
        model_dir, host=host, port=port, workers=workers, env=env, log_file=log_file
    )
    # TorchServe's default: one worker per CPU the JVM sees (default_workers_per_model).
    count = workers if workers is not None else (os.cpu_count() or 1)
    handle = ServerHandle(url, process, model_dir, "pytorch", count, log, scratch, pump)
    _RUNNING.add(handle)
    where = f" (log: {log_file})" if log_file else ""
    try:
        wait_until_model_ready(process, url, pump, ready_timeout, where)
    except BaseException:
        handle.stop()
        raise
    return handle
