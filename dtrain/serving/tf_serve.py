"""`python -m dtrain.serving.tf_serve`: the TF Serving image's `serve`, in the image's Python (.venv-tfs).

The image's serve.py (aws/deep-learning-containers tensorflow/inference/docker/build_artifacts/
sagemaker/serve.py) finds the SavedModels under /opt/ml/model, installs code/requirements.txt
with pip (unless code/lib exists, which goes on the path instead), starts tensorflow_model_server
on its REST port, gunicorn with python_service.py where code/inference.py (or requirements.txt,
or lib/) exists, and nginx on port 8080. The same steps run here, with what dtrain has in their
place (dtrain/serving/__init__ lists them): the model server is tf_model_server under the
TensorFlow interpreter (DTRAIN_TF_PYTHON), gunicorn runs tf_python_service and listens on the
port itself (no nginx), and gunicorn starts once the models are AVAILABLE, so the first /ping 200
means a request can be answered.

Its settings are the image's environment variables, with the image's defaults:
SAGEMAKER_GUNICORN_WORKERS (1), SAGEMAKER_GUNICORN_THREADS (1), SAGEMAKER_GUNICORN_WORKER_CLASS
(gevent), SAGEMAKER_GUNICORN_TIMEOUT_SECONDS (30), SAGEMAKER_GUNICORN_LOGLEVEL (info),
SAGEMAKER_TFS_DEFAULT_MODEL_NAME (the first model found), SAGEMAKER_BIND_TO_PORT;
SAGEMAKER_BASE_DIR stands for /opt/ml (as for the PyTorch toolkit). It stops both servers on
SIGTERM, and by itself when its starter is gone (parent_watch).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from dtrain.serving.parent_watch import watch_parent
from dtrain.serving.tf_models import ServableModel, servable_models

# A folder holding only the dtrain package (start_server makes it): the one path entry this
# module's children need, so the image's Python sees no other package of the caller's environment.
DTRAIN_PATH_ENV = "DTRAIN_SERVING_PACKAGE_PATH"
TF_PYTHON_ENV = "DTRAIN_TF_PYTHON"
MODEL_PORT_ENV = "DTRAIN_TFS_REST_PORT"
HOST_ENV = "DTRAIN_SERVING_HOST"
PARENT_PID_ENV = "DTRAIN_SERVING_PARENT_PID"
MODEL_LOAD_SECONDS = 300.0


class StartFailed(Exception):
    """The image's serve would stop here too: no model, a failed pip install, a model that did not load."""


def log(message: str) -> None:
    print(f"tf_serve: {message}", file=sys.stderr, flush=True)


def python_path(code_dir: Path) -> list[str]:
    """serve.py's PYTHONPATH for gunicorn: code/ and code/lib; requirements.txt installed unless lib/ is."""
    lib, requirements = code_dir / "lib", code_dir / "requirements.txt"
    if requirements.is_file():
        if lib.is_dir():
            log(f"loading modules in '{lib}', ignoring requirements.txt")
        else:
            log("installing packages from requirements.txt...")
            if subprocess.call([sys.executable, "-m", "pip", "install", "-r", str(requirements)]) != 0:
                raise StartFailed("failed to install required packages.")
    return [str(code_dir)] + ([str(lib)] if lib.is_dir() else [])


def wait_for_models(process: subprocess.Popen[bytes], port: int, models: list[ServableModel]) -> None:
    """Every version AVAILABLE (tfs_utils.wait_for_model's test); a version that ENDed, or the
    model server's exit, fails the start with its error."""
    deadline = time.monotonic() + MODEL_LOAD_SECONDS
    pending = [m.name for m in models]
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartFailed(f"the model server exited with code {process.returncode} while loading")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/v1/models/{pending[0]}", timeout=5
            ) as reply:
                versions = json.loads(reply.read())["model_version_status"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            time.sleep(0.2)
            continue
        failed = [v for v in versions if v["state"] == "END"]
        if failed:
            message = failed[0]["status"]["error_message"]
            raise StartFailed(f"model {pending[0]} version {failed[0]['version']} did not load: {message}")
        if all(v["state"] == "AVAILABLE" for v in versions):
            log(f"model: {pending.pop(0)} is available now")
        else:
            time.sleep(0.2)
    if pending:
        raise StartFailed(f"model {pending[0]} was not available within {MODEL_LOAD_SECONDS:.0f} s")


def gunicorn_command(host: str, port: str) -> list[str]:
    env = os.environ
    return [
        sys.executable, "-m", "gunicorn",
        "-k", env.get("SAGEMAKER_GUNICORN_WORKER_CLASS", "gevent"),
        "--workers", str(env.get("SAGEMAKER_GUNICORN_WORKERS", 1)),
        "--threads", str(env.get("SAGEMAKER_GUNICORN_THREADS", 1)),
        "--timeout", str(int(env.get("SAGEMAKER_GUNICORN_TIMEOUT_SECONDS", 30))),
        "--log-level", env.get("SAGEMAKER_GUNICORN_LOGLEVEL", "info"),
        "--bind", f"{host}:{port}",
        "dtrain.serving.tf_python_service:create_app()",
    ]  # fmt: skip


def stop(processes: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve() -> int:
    base = Path(os.environ["SAGEMAKER_BASE_DIR"])
    model_dir, code_dir = base / "model", base / "model" / "code"
    host, port = os.environ.get(HOST_ENV, "127.0.0.1"), os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")
    models = servable_models(model_dir)
    default_model = os.environ.get("SAGEMAKER_TFS_DEFAULT_MODEL_NAME", "None")
    if default_model == "None":
        default_model = models[0].name
    rest_port = int(os.environ[MODEL_PORT_ENV])
    paths = python_path(code_dir)
    running: list[subprocess.Popen[bytes]] = []

    def stop_on_term(*_: object) -> None:
        stop(running)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop_on_term)
    model_server = [
        os.environ[TF_PYTHON_ENV], "-m", "dtrain.serving.tf_model_server",
        "--rest_api_host", "127.0.0.1", "--rest_api_port", str(rest_port),
    ] + [f"--model={m.name}={m.base_path}" for m in models]  # fmt: skip
    dtrain_path = os.environ[DTRAIN_PATH_ENV]
    tf_env = dict(os.environ, PYTHONPATH=dtrain_path, TF_CPP_MIN_LOG_LEVEL="2")
    running.append(subprocess.Popen(model_server, env=tf_env))
    try:
        wait_for_models(running[0], rest_port, models)
        service_env = dict(
            os.environ,
            TFS_REST_PORTS=str(rest_port),
            TFS_DEFAULT_MODEL_NAME=default_model,
            DTRAIN_TFS_CODE_DIR=str(code_dir),
            PYTHONPATH=os.pathsep.join([*paths, dtrain_path]),
        )
        running.append(subprocess.Popen(gunicorn_command(host, port), env=service_env))
        while all(p.poll() is None for p in running):
            time.sleep(0.5)
        ended = next(p for p in running if p.poll() is not None)
        log(
            f"{'the model server' if ended is running[0] else 'gunicorn'} exited with code {ended.returncode}"
        )
        return ended.returncode or 1
    finally:
        stop(running)


def main() -> None:
    watch_parent(int(os.environ.get(PARENT_PID_ENV) or 0))
    try:
        code = serve()
    except (StartFailed, FileNotFoundError) as exc:
        log(str(exc))
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
