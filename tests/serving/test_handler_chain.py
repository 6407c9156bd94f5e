"""The hosting app over the PyTorch handler chain, called as WSGI in-process (no server).

Pins the SageMaker PyTorch inference toolkit's behaviour that inference.py relies on: the
defaults for the handlers it leaves out, the context argument, Accept/Content-Type handling and
the status and body of a failure (aws/sagemaker-inference-toolkit transformer.py,
aws/sagemaker-pytorch-inference-toolkit default_pytorch_inference_handler.py).
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import numpy as np
import pytest
import torch

from dtrain.serving.torch_service import TorchService
from dtrain.serving.wsgi import MAX_BODY_BYTES, HostingApp


class Scale2(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def call(
    app: HostingApp, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body))}
    environ["wsgi.input"] = io.BytesIO(body)
    if "content_type" in headers:
        environ["CONTENT_TYPE"] = headers["content_type"]
    if "accept" in headers:
        environ["HTTP_ACCEPT"] = headers["accept"]
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), dict(response_headers)

    payload = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], payload


def model_dir(tmp_path: Path, inference_py: str | None, *, torchscript: bool = True) -> Path:
    if torchscript:
        torch.jit.script(Scale2()).save(str(tmp_path / "model.pt"))
    if inference_py is not None:
        (tmp_path / "code").mkdir()
        (tmp_path / "code" / "inference.py").write_text(textwrap.dedent(inference_py))
    return tmp_path


def app_for(tmp_path: Path, inference_py: str | None, **environ: str) -> HostingApp:
    return HostingApp(TorchService(model_dir(tmp_path, inference_py), environ))


@pytest.fixture(autouse=True)
def _fresh_user_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's inference.py is a new module `inference` (the server imports it by that name)."""
    import sys

    monkeypatch.delitem(sys.modules, "inference", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_no_inference_py_uses_every_default_torchscript_model_json_in_json_out(tmp_path: Path) -> None:
    app = app_for(tmp_path, None)
    status, headers, body = call(
        app, "POST", "/invocations", b"[[1, 2], [3, 4]]", content_type="application/json"
    )
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert json.loads(body) == [[2.0, 4.0], [6.0, 8.0]]


def test_defaults_decode_csv_and_encode_npy(tmp_path: Path) -> None:
    app = app_for(tmp_path, None)
    status, headers, body = call(
        app, "POST", "/invocations", b"1,2\n3,4\n", content_type="text/csv", accept="application/x-npy"
    )
    assert (status, headers["Content-Type"]) == (200, "application/x-npy")
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), [[2, 4], [6, 8]])


def test_npy_input_keeps_its_dtype_and_accept_list_takes_the_first_supported(tmp_path: Path) -> None:
    app = app_for(tmp_path, None)
    buffer = io.BytesIO()
    np.save(buffer, np.array([1.5, 2.5], dtype=np.float64))
    status, headers, body = call(
        app,
        "POST",
        "/invocations",
        buffer.getvalue(),
        content_type="application/x-npy",
        accept="image/png, text/csv",
    )
    assert (status, headers["Content-Type"]) == (200, "text/csv")
    assert body.decode().split() == ["3.0", "5.0"]


def test_inference_py_with_only_model_fn_gets_the_default_input_predict_output(tmp_path: Path) -> None:
    inference_py = """
        import torch

        class AddOne(torch.nn.Module):
            def forward(self, x):
                return x + 1

        def model_fn(model_dir):
            return AddOne()
        """
    app = HostingApp(TorchService(model_dir(tmp_path, inference_py, torchscript=False), {}))
    status, _, body = call(app, "POST", "/invocations", b"[1, 2]", content_type="application/json")
    assert status == 200 and json.loads(body) == [2.0, 3.0]


def test_user_output_fn_with_context_and_default_accept_from_the_environment(tmp_path: Path) -> None:
    app = app_for(
        tmp_path,
        """
        def output_fn(prediction, accept, context):
            return f"{accept} {context.system_properties['model_dir'] != ''} {prediction.tolist()}"
        """,
        SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="text/plain",
    )
    status, headers, body = call(
        app, "POST", "/invocations", b"[1]", content_type="application/json", accept="*/*"
    )
    assert (status, headers["Content-Type"]) == (200, "text/plain")
    assert body == b"text/plain True [2.0]"


def test_error_in_user_code_is_500_with_message_then_traceback(tmp_path: Path) -> None:
    app = app_for(
        tmp_path,
        """
        def predict_fn(data, model):
            raise RuntimeError("the model is on strike")
        """,
    )
    status, headers, body = call(app, "POST", "/invocations", b"[1]", content_type="application/json")
    assert (status, headers["Content-Type"]) == (500, "text/plain")
    text = body.decode()
    assert text.startswith("the model is on strike\nTraceback (most recent call last):")
    assert 'inference.py", line 3, in predict_fn' in text


def test_error_naming_its_status_keeps_it(tmp_path: Path) -> None:
    app = app_for(
        tmp_path,
        """
        from dtrain.serving.errors import InferenceToolkitError

        def input_fn(body, content_type):
            raise InferenceToolkitError(415, "send JSON")
        """,
    )
    status, _, body = call(app, "POST", "/invocations", b"x", content_type="image/png")
    assert status == 415 and body.decode().startswith("send JSON\n")


def test_unsupported_content_type_with_default_handlers_is_the_toolkits_500(tmp_path: Path) -> None:
    status, _, body = call(app_for(tmp_path, None), "POST", "/invocations", b"x", content_type="image/png")
    assert status == 500
    assert body.decode().startswith("Content type image/png is not supported by this model.")


def test_transform_fn_alone_replaces_the_chain(tmp_path: Path) -> None:
    app = app_for(
        tmp_path,
        """
        def transform_fn(model, data, content_type, accept):
            return b"ok:" + data.encode(), "text/plain"
        """,
    )
    status, headers, body = call(app, "POST", "/invocations", b"[1]", content_type="application/json")
    assert (status, headers["Content-Type"], body) == (200, "text/plain", b"ok:[1]")


def test_transform_fn_with_input_fn_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Cannot use transform_fn implementation in conjunction with"):
        app_for(
            tmp_path,
            """
            def transform_fn(model, data, content_type, accept):
                return data
            def input_fn(data, content_type):
                return data
            """,
        )


def test_default_model_fn_refuses_a_state_dict_naming_torchscript(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(1)}, tmp_path / "model.pt")
    with pytest.raises(Exception, match="Please ensure model is saved using torchscript"):
        TorchService(model_dir(tmp_path, None, torchscript=False), {})


def test_ping_get_only_and_invocations_post_only(tmp_path: Path) -> None:
    app = app_for(tmp_path, None)
    assert call(app, "GET", "/ping")[0] == 200
    assert call(app, "POST", "/ping")[0] == 405
    assert call(app, "GET", "/invocations")[0] == 405


class CountingStream(io.BytesIO):
    """A request body that counts what the app reads of it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def test_a_chunked_body_over_6_mib_is_413_after_reading_at_most_one_byte_more(tmp_path: Path) -> None:
    app = app_for(tmp_path, None)
    stream = CountingStream(b"0" * (MAX_BODY_BYTES * 2))
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "PATH_INFO": "/invocations"}
    environ |= {"wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_TYPE": "application/json"}
    setup_testing_defaults(environ)
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, headers: seen.append(status)))
    assert seen == ["413 Request Entity Too Large"] and b"6291456" in body
    assert stream.taken == MAX_BODY_BYTES + 1
    # Without wsgi.input_terminated (a server that hands over the bare socket) nothing is read.
    environ |= {"wsgi.input": CountingStream(b"[1.0]"), "wsgi.input_terminated": False}
    seen.clear()
    b"".join(app(environ, lambda status, headers: seen.append(status)))
    assert environ["wsgi.input"].taken == 0
