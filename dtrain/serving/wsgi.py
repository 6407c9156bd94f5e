"""The hosting contract as a WSGI app: what gunicorn's workers run (`dtrain.serving.wsgi:create_app()`).

SageMaker hosting (Developer Guide, "Use Your Own Inference Code with Hosting Services": "How
Containers Serve Requests") sends `GET /ping` (answer 200 when ready) and `POST /invocations`
(the InvokeEndpoint body, its ContentType and Accept headers) to the container's port 8080.
Each worker loads the model once, when gunicorn starts it; gunicorn's listening socket queues
connections until a worker has loaded, so the first `/ping` 200 means a worker can answer.

Only a TensorFlow SavedModel is served this way (tf_service: TF Serving's REST API and the
TF Serving image's handlers); a PyTorch model runs under TorchServe (torchserve.py). A failure
the service does not answer itself is a 500 with its message, and its traceback goes to the log.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

from dtrain.serving.tf_service import Answer, TensorFlowService

MODEL_DIR_ENV = "DTRAIN_SERVING_MODEL_DIR"
FRAMEWORK_ENV = "DTRAIN_SERVING_FRAMEWORK"
FRAMEWORKS = ("pytorch", "tensorflow")  # start_server's; this app serves tensorflow
# InvokeEndpoint's Body is at most 6291456 bytes (6 MiB): botocore's sagemaker-runtime model,
# shape BodyBlob "max": 6291456; SageMaker refuses a larger request before the container sees it.
MAX_BODY_BYTES = 6291456

log = logging.getLogger("dtrain.serving")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class InferenceService(Protocol):
    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer: ...


def _status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Error"


def load_service(model_dir: Path) -> InferenceService:
    return TensorFlowService(model_dir)


class HostingApp:
    """GET /ping and POST /invocations over one loaded inference service."""

    def __init__(self, service: InferenceService) -> None:
        self.service = service

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                return _reply(start_response, 405, b"", "text/plain")
            return _reply(start_response, 200, b'{"status": "Healthy"}\n', "application/json")
        if path == "/invocations":
            if method != "POST":
                return _reply(start_response, 405, b"", "text/plain")
            return self._invoke(environ, start_response)
        return _reply(
            start_response, 404, json.dumps({"error": f"no route {path}"}).encode(), "application/json"
        )

    def _invoke(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ)
        if body is None:
            message = f"the request body is larger than InvokeEndpoint's {MAX_BODY_BYTES} bytes\n"
            return _reply(start_response, 413, message.encode(), "text/plain")
        try:
            answer = self.service.invoke(body, environ.get("CONTENT_TYPE"), environ.get("HTTP_ACCEPT"))
        except Exception as exc:  # every failure is an answer, not a crash
            log.error("invocation failed: %s\n%s", exc, traceback.format_exc())
            body = json.dumps({"error": str(exc) or type(exc).__name__}).encode()
            return _reply(start_response, 500, body, "application/json")
        return _reply(start_response, answer.status, answer.body, answer.content_type)


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is over MAX_BODY_BYTES (never read past that).

    With a Content-Length, a larger body is refused before any of it is read. Without one
    (Transfer-Encoding: chunked), the body is read only where the server says its input ends
    (`wsgi.input_terminated`, as gunicorn sets it: reading a bare socket would block), and at
    most one byte past the limit, so a large chunked body costs no more memory than a limit.
    """
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        length = int(declared)
        return None if length > MAX_BODY_BYTES else stream.read(length)
    if not environ.get("wsgi.input_terminated"):
        return b""
    body: bytes = stream.read(MAX_BODY_BYTES + 1)
    return None if len(body) > MAX_BODY_BYTES else body


def _reply(start_response: StartResponse, status: int, body: bytes, content_type: str) -> list[bytes]:
    start_response(_status_line(status), [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def create_app() -> HostingApp:
    """The app of one worker: the model from DTRAIN_SERVING_MODEL_DIR, loaded now."""
    logging.basicConfig(level=logging.INFO, format="[%(process)d] %(levelname)s %(name)s: %(message)s")
    model_dir = Path(os.environ[MODEL_DIR_ENV])
    return HostingApp(load_service(model_dir))
