"""`start_server(model_dir)`: a model served as SageMaker's framework image serves it, ready when it returns.

- PyTorch: TorchServe started by sagemaker-pytorch-inference's `serve` with sagemaker-inference's
  handler service, the packages SageMaker's PyTorch inference image runs (`torchserve.py`).
- TensorFlow SavedModel: the TF Serving image's REST API in front of TensorFlow, under gunicorn
  (`tf_service.py`, `wsgi.py`), in the TensorFlow virtualenv (.venv-hvd, or $DTRAIN_TF_PYTHON):
  TF Serving's binary is not installable here.

Every server runs in a session of its own, so stop() reaps its whole tree (the JVM and its
Python workers, gunicorn's workers) and removes its scratch directory; a server whose starter
is killed outright stops by itself (torchserve_entry, gunicorn_conf: parent watch).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dtrain.remote.errors import UsageError
from dtrain.serving.tf_service import has_saved_model
from dtrain.serving.torchserve import LogPump, ServerStartError, remove_scratch, start_torchserve
from dtrain.serving.torchserve import wait_until_ready as wait_until_model_ready
from dtrain.serving.wsgi import FRAMEWORK_ENV, FRAMEWORKS, MODEL_DIR_ENV

__all__ = ["ServerHandle", "ServerStartError", "start_server"]

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_PYTHON_ENV = "DTRAIN_TF_PYTHON"
DEFAULT_TF_PYTHON = REPO_ROOT / ".venv-hvd" / "bin" / "python"
# SageMaker's model server time-out (sagemaker_inference environment.py: 60 s by default);
# gunicorn kills a worker that is silent longer, model loading included, so it gets more.
MODEL_SERVER_TIMEOUT_ENV = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 120
DEFAULT_READY_SECONDS = 180.0


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


def framework_python(framework: str) -> str:
    """The interpreter that has the framework: this one for PyTorch; TensorFlow's virtualenv."""
    if framework == "pytorch":
        return sys.executable
    configured = os.environ.get(TF_PYTHON_ENV)
    python = Path(configured) if configured else DEFAULT_TF_PYTHON
    if not python.exists():
        raise UsageError(
            f"a TensorFlow SavedModel is served by an interpreter with tensorflow and gunicorn: {python} "
            f"does not exist (make setup builds .venv-hvd, or set {TF_PYTHON_ENV})"
        )
    return str(python)


def _worker_env(
    model_dir: Path, framework: str, workers: int, extra: dict[str, str] | None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env[MODEL_DIR_ENV] = str(model_dir)
    env[FRAMEWORK_ENV] = framework
    env["DTRAIN_SERVING_PARENT_PID"] = str(os.getpid())  # gunicorn_conf.when_ready watches it
    # dtrain.serving is imported from this checkout, also by the TensorFlow interpreter.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    # N workers share the cores: each one's intra-op thread pool gets its share, not all of them.
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env.setdefault("OMP_NUM_THREADS", threads)
    env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


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
    return _start_gunicorn(model_dir, framework, host, port, workers, env, log_file, ready_timeout)


def _start_gunicorn(
    model_dir: Path,
    framework: str,
    host: str,
    port: int,
    workers: int | None,
    env: dict[str, str] | None,
    log_file: Path | None,
    ready_timeout: float,
) -> ServerHandle:
    """A model served by gunicorn's workers (dtrain.serving.wsgi) on a socket bound here, so that
    a port that cannot be had is refused before anything starts."""
    workers = workers if workers is not None else model_server_workers(env or {})
    python = framework_python(framework)
    worker_env = _worker_env(model_dir, framework, workers, env)
    timeout = worker_env.get(MODEL_SERVER_TIMEOUT_ENV) or str(DEFAULT_TIMEOUT_SECONDS)
    try:
        listener = socket.create_server((host, port), backlog=128)
    except OSError as exc:
        raise UsageError(f"--port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound_host, bound_port = listener.getsockname()[:2]
    command = [
        python, "-m", "gunicorn",
        "--bind", f"fd://{listener.fileno()}",
        "--workers", str(workers),
        "--timeout", timeout,
        "--config", "python:dtrain.serving.gunicorn_conf",
        "dtrain.serving.wsgi:create_app()",
    ]  # fmt: skip
    log = open(log_file, "ab") if log_file else None  # noqa: SIM115 - closed by ServerHandle.stop
    try:
        # Not cwd=model_dir: gunicorn puts its working directory first on sys.path, so a numpy.py
        # at the archive's root would shadow numpy. SageMaker puts only code/ on the path (the
        # service does that); the checkout's root is on PYTHONPATH already, so it adds nothing.
        process = subprocess.Popen(
            command,
            env=worker_env,
            cwd=REPO_ROOT,
            pass_fds=(listener.fileno(),),
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: stop() can kill the workers with it
        )
    finally:
        listener.close()
    handle = ServerHandle(f"http://{bound_host}:{bound_port}", process, model_dir, framework, workers, log)
    _RUNNING.add(handle)
    try:
        wait_until_ready(handle, ready_timeout, log_file)
    except BaseException:
        handle.stop()
        raise
    return handle


def wait_until_ready(handle: ServerHandle, timeout: float, log_file: Path | None) -> None:
    deadline = time.monotonic() + timeout
    where = f" (log: {log_file})" if log_file else " (its log is above)"
    while time.monotonic() < deadline:
        code = handle.process.poll()
        if code is not None:
            raise ServerStartError(f"the model server exited with code {code} before it was ready{where}")
        try:
            with urllib.request.urlopen(
                f"{handle.url}/ping", timeout=max(1.0, deadline - time.monotonic())
            ) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ServerStartError(f"the model server did not answer /ping within {timeout:.0f} s{where}")


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
