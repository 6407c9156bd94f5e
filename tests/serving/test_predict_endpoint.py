"""`dtrain predict ENDPOINT FILE`: InvokeEndpoint through botocore, answers and errors as SageMaker's.

A small stand-in for sagemaker-runtime (the emulator's own InvokeEndpoint is tested with the
emulator) forwards `POST /endpoints/<name>/invocations` to the served trained model and answers
as the service does: the model's body and type on 200; a model's error status as ModelError,
HTTP 424, with OriginalStatusCode / OriginalMessage; an unknown endpoint as ValidationError
(SageMaker API Reference, InvokeEndpoint, Errors).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dtrain.cli import main
from dtrain.serving import ServerHandle

# One xdist worker runs every test of the session's trained_server (conftest.trained_server).
pytestmark = pytest.mark.xdist_group("trained-server")


@pytest.fixture
def runtime_endpoint(trained_server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = self.path.split("/")
            body = self.rfile.read(int(self.headers["Content-Length"] or 0))
            if len(parts) != 4 or parts[1] != "endpoints" or parts[2] != "cifar":
                message = f"Endpoint {parts[2]} of account 123456789012 not found."
                return self._json(400, "ValidationError", {"message": message})
            headers = {
                "Content-Type": self.headers["Content-Type"],
                "Accept": self.headers.get("Accept", "*/*"),
            }
            request = urllib.request.Request(f"{trained_server.url}/invocations", data=body, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=60) as reply:
                    answer, content_type = reply.read(), reply.headers["Content-Type"]
            except urllib.error.HTTPError as exc:
                original = exc.read().decode()
                return self._json(
                    424,
                    "ModelError",
                    {
                        "message": f"Received client error ({exc.code}) from primary: {original}",
                        "OriginalStatusCode": exc.code,
                        "OriginalMessage": original,
                    },
                )
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def _json(self, status: int, code: str, payload: dict[str, object]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("x-amzn-ErrorType", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield "cifar"
    server.shutdown()
    server.server_close()


def test_predict_an_endpoint_by_name(
    runtime_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images.npy"
    np.save(images, np.zeros((2, 3, 32, 32), dtype=np.uint8))
    assert main(["predict", runtime_endpoint, str(images)]) == 0
    assert np.array(json.loads(capsys.readouterr().out)).shape == (2, 10)


def test_model_error_is_one_line_with_the_models_status_exit_1(
    runtime_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[[1, 2]]")
    assert main(["predict", runtime_endpoint, str(bad)]) == 1
    assert capsys.readouterr().err.strip() == (
        "dtrain predict: endpoint cifar: the model answered 400: "
        "images must be (N, 32, 32, 3) or (N, 3, 32, 32); got shape (1, 2)"
    )


def test_unknown_endpoint_exit_1(
    runtime_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "x.json"
    data.write_text("[]")
    assert main(["predict", "nope", str(data)]) == 1
    assert "endpoint nope: Endpoint nope of account 123456789012 not found." in capsys.readouterr().err
