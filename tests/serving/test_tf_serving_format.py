"""A Keras SavedModel served as SageMaker's TF Serving image serves it.

The SavedModel is the Keras trainers' network (training_code/horovod/keras_cifar.build_model),
saved as they save it (`model.save(model_dir / "1", save_format="tf")`), by TensorFlow in the
Horovod virtualenv. Three layers are checked: TF Serving's REST API (tf_model_server, TensorFlow in
.venv-hvd: the one behind tf_server's front), the image's front without code/inference.py (the njs
script's conversions and 415), and its Python service running a model's handlers in .venv-tfs (the
image's Python packages: no numpy). Slow (each server loads TensorFlow, 10-20 s on 2 cores): the
servers are shared by the module's tests.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from dtrain.local.config import repo_root
from dtrain.serving import ServerHandle, start_server
from dtrain.serving.torchserve import ServerStartError
from tests.serving.matrix_cases import Case, cases, outcome

pytestmark = pytest.mark.horovod
TFS_PYTHON = repo_root() / ".venv-tfs" / "bin" / "python"


# A `handler` of its own (the image's other contract): it posts to TF Serving by itself with the
# image's requests, answers in the Accept type, and raises when the request asks it to.
OWN_HANDLER = """
import json
import requests

def handler(data, context):
    if "raise" in (context.custom_attributes or ""):
        raise RuntimeError("the handler refused the request")
    body = data.read().decode("utf-8")
    reply = requests.post(context.rest_uri, data=body)
    if reply.status_code != 200:
        raise ValueError(reply.content.decode("utf-8"))
    predictions = reply.json()["predictions"]
    return json.dumps({"classes": [row.index(max(row)) for row in predictions]}), "application/json"
"""


@pytest.fixture(scope="module")
def saved_model(keras_saved_model: Path) -> Path:
    """The session's Keras SavedModel (tests/serving/keras_model.py: versions 1 and 2, the packaged
    copy, inputs and what the model answers for them)."""
    assert TFS_PYTHON.exists(), f"{TFS_PYTHON} missing: make setup builds it"
    return keras_saved_model


def _request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def _post(
    url: str, body: bytes, content_type: str = "application/json", **headers: str
) -> tuple[int, str, bytes]:
    return _request(f"{url}/invocations", body, {"Content-Type": content_type, **headers})


# -- TF Serving's REST API (tf_model_server) ------------------------------------------------------
@pytest.fixture(scope="module")
def rest_api(tf_server: ServerHandle) -> str:
    """The REST API of the model server behind tf_server's front (the image's TF Serving on its
    port 8501): tf_serve started it, `--rest_api_port N --model=model=<model dir>`, for the same
    model (versions 1 and 2). Its own server cost one more TensorFlow start (~6 CPU-s)."""
    for child in psutil.Process(tf_server.process.pid).children(recursive=True):
        command = child.cmdline()
        if "dtrain.serving.tf_model_server" in command:
            return f"http://127.0.0.1:{command[command.index('--rest_api_port') + 1]}"
    raise AssertionError("tf_server runs no tf_model_server")


def test_status_lists_every_version_as_tf_serving_does(rest_api: str) -> None:
    status, content_type, body = _request(f"{rest_api}/v1/models/model")
    assert (status, content_type) == (200, "application/json")
    ok = {"error_code": "OK", "error_message": ""}
    assert json.loads(body) == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": ok},
            {"version": "1", "state": "AVAILABLE", "status": ok},
        ]
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/v1/models/resnet", None, 404, "Could not find any versions of model resnet"),
        ("GET", "/v1/models/model/versions/7", None, 404, "Could not find version 7 of model model"),
        ("POST", "/v1/models/resnet:predict", b"{}", 404, "Servable not found for request: Latest(resnet)"),
        ("POST", "/v1/models/model/versions/7:predict", b"{}", 404,
         "Servable not found for request: Specific(model, 7)"),
        ("POST", "/v1/models/model:predict", b'{"rows": []}', 400, "Missing 'inputs' or 'instances' key"),
        ("POST", "/v1/models/model:predict", b'{"instances": [1], "signature_name": "x"}', 400,
         'Serving signature name: "x" not found in signature def'),
        ("POST", "/v1/models/model:classify", b'{"examples": []}', 400,
         "Expected classification signature method_name to be tensorflow/serving/classify. "
         "Was: tensorflow/serving/predict"),
        ("POST", "/v1/model:predict", b"{}", 400, "Malformed request: POST /v1/model:predict"),
        ("GET", "/v2/models/model", None, 400, "Malformed request: GET /v2/models/model"),
    ],
)  # fmt: skip
def test_rest_errors_are_tf_servings_status_and_error_object(
    rest_api: str, method: str, path: str, body: bytes | None, status: int, error: str
) -> None:
    request = urllib.request.Request(f"{rest_api}{path}", data=body, method=method)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == status
    assert caught.value.headers["Content-Type"] == "application/json"
    assert json.loads(caught.value.read()) == {"error": error}


def test_bad_json_and_a_wrong_shape_are_400_with_an_error(rest_api: str) -> None:
    status, _, body = _request(f"{rest_api}/v1/models/model:predict", b"{not json")
    assert status == 400 and json.loads(body)["error"].startswith("JSON Parse error")
    status, _, body = _request(f"{rest_api}/v1/models/model:predict", b'{"instances": [[1, 2, 3]]}')
    assert status == 400 and "shape" in json.loads(body)["error"]


def test_row_named_and_columnar_formats_of_one_version(rest_api: str, saved_model: Path) -> None:
    x, logits = np.load(saved_model / "x.npy"), np.load(saved_model / "logits.npy")
    url = f"{rest_api}/v1/models/model/versions/1:predict"
    status, _, body = _request(url, json.dumps({"instances": x.tolist()}).encode())
    assert status == 200
    np.testing.assert_allclose(json.loads(body)["predictions"], logits, rtol=1e-4, atol=1e-5)
    name = (saved_model / "input_name").read_text()
    named = [{name: image} for image in x[:2].tolist()]
    status, _, body = _request(url, json.dumps({"instances": named}).encode())
    assert status == 200 and np.array(json.loads(body)["predictions"]).shape == (2, 10)
    status, _, body = _request(url, json.dumps({"instances": [{"pixels": x[0].tolist()}]}).encode())
    assert status == 400
    assert "does not have named input: pixels" in json.loads(body)["error"]
    status, _, body = _request(url, json.dumps({"inputs": x[:1].tolist()}).encode())
    assert status == 200 and np.array(json.loads(body)["outputs"]).shape == (1, 10)


# -- the image's front without handlers (the njs script's conversions) ----------------------------
@pytest.fixture(scope="module")
def tf_server(saved_model: Path) -> Iterator[ServerHandle]:
    with start_server(saved_model / "model", port=0, workers=1) as handle:
        yield handle


def test_saved_model_is_detected_and_served_by_tensorflow(tf_server: ServerHandle) -> None:
    assert tf_server.framework == "tensorflow"
    assert _request(f"{tf_server.url}/ping")[0] == 200
    assert _request(f"{tf_server.url}/models")[:1] == (404,)


def test_instances_in_predictions_out(tf_server: ServerHandle, saved_model: Path) -> None:
    x = np.load(saved_model / "x.npy")
    status, content_type, body = _post(tf_server.url, json.dumps({"instances": x.tolist()}).encode())
    assert (status, content_type) == (200, "application/json")
    predictions = np.array(json.loads(body)["predictions"])
    np.testing.assert_allclose(predictions, np.load(saved_model / "logits.npy"), rtol=1e-4, atol=1e-5)


def test_a_bare_list_and_json_lines_become_instances(tf_server: ServerHandle, saved_model: Path) -> None:
    x = np.load(saved_model / "x.npy")
    status, _, body = _post(tf_server.url, json.dumps(x.tolist()).encode())
    assert status == 200 and np.array(json.loads(body)["predictions"]).shape == (3, 10)
    lines = "\n".join(json.dumps(image) for image in x[:2].tolist()).encode()
    status, content_type, body = _post(
        tf_server.url, lines, "application/jsonlines", Accept="application/jsonlines"
    )
    assert (status, content_type) == (200, "application/jsonlines")
    assert b"\n" not in body and np.array(json.loads(body)["predictions"]).shape == (2, 10)


def test_csv_rows_are_instances_and_tf_servings_error_comes_through(tf_server: ServerHandle) -> None:
    # Three numbers a row: the njs script makes [[1,2,3]], which the model cannot take.
    status, content_type, body = _post(tf_server.url, b"1,2,3\n4,5,6\n", "text/csv")
    assert (status, content_type) == (400, "application/json")
    assert "shape" in json.loads(body)["error"]


@pytest.mark.parametrize(
    "content_type", ["application/x-npy", "image/png", "application/json; charset=utf-8"]
)
def test_a_content_type_the_njs_script_does_not_take_is_415(
    tf_server: ServerHandle, content_type: str
) -> None:
    status, _, body = _post(tf_server.url, b"\x93NUMPY", content_type)
    assert (status, json.loads(body)) == (415, {"error": f"Unsupported Media Type: {content_type}"})


def test_a_body_that_is_not_the_json_it_says_is_tf_servings_parse_error(tf_server: ServerHandle) -> None:
    status, _, body = _post(tf_server.url, b"\x89PNG not json")
    assert status == 400 and json.loads(body)["error"].startswith("JSON Parse error")


# -- the image's Python service running the model's handlers --------------------------------------
@pytest.fixture(scope="module")
def packaged_server(saved_model: Path) -> Iterator[ServerHandle]:
    with start_server(saved_model / "packaged", port=0, workers=1) as handle:
        yield handle


def test_packaged_keras_model_takes_uint8_images_and_answers_probabilities(
    packaged_server: ServerHandle, saved_model: Path
) -> None:
    """code/inference.py's input_handler / output_handler, run by the image's packages (no numpy)."""
    images = np.load(saved_model / "images.npy")
    expected = np.load(saved_model / "probabilities.npy")
    body = json.dumps({"instances": images.tolist()}).encode()
    status, content_type, answer = _post(packaged_server.url, body)
    assert (status, content_type) == (200, "application/json")
    np.testing.assert_allclose(json.loads(answer)["predictions"], expected, rtol=1e-4, atol=1e-6)
    buffer = io.BytesIO()
    np.save(buffer, images.transpose(0, 3, 1, 2))
    status, content_type, answer = _post(
        packaged_server.url, buffer.getvalue(), "application/x-npy", Accept="application/x-npy"
    )
    assert (status, content_type) == (200, "application/x-npy")
    np.testing.assert_allclose(np.load(io.BytesIO(answer)), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b'{"instances": [[1, 2]]}', "application/json",
         "images must be (N, 32, 32, 3) or (N, 3, 32, 32); got shape (1, 2)"),
        (b"1,2,3", "text/csv",
         "Content-Type 'text/csv' is not supported: send application/json or application/x-npy"),
        (b"\x89PNG\r\n", "application/x-npy", "the body is not a .npy array (no \\x93NUMPY header)"),
    ],
)  # fmt: skip
def test_a_handler_that_raises_is_500_with_its_message_as_the_image_answers(
    packaged_server: ServerHandle, body: bytes, content_type: str, error: str
) -> None:
    status, response_type, answer = _post(packaged_server.url, body, content_type)
    assert (status, response_type) == (500, "application/json")
    assert json.loads(answer) == {"error": error}


@pytest.fixture(scope="module")
def own_handler_server(saved_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    model = tmp_path_factory.mktemp("own-handler") / "model"
    # Version 1 only: the model server loads every version (~1.5 CPU-s each), and these tests name
    # none that exists but 1.
    shutil.copytree(saved_model / "model" / "1", model / "1")
    (model / "code").mkdir()
    (model / "code" / "inference.py").write_text(OWN_HANDLER)
    with start_server(model, port=0, workers=1) as handle:
        yield handle


def test_a_handler_of_its_own_posts_to_tf_serving_and_raises_as_500(
    own_handler_server: ServerHandle, saved_model: Path
) -> None:
    x = np.load(saved_model / "x.npy")
    status, _, answer = _post(own_handler_server.url, json.dumps({"instances": x.tolist()}).encode())
    assert status == 200
    assert json.loads(answer) == {"classes": np.load(saved_model / "logits.npy").argmax(axis=1).tolist()}
    raised = _post(own_handler_server.url, b"{}", **{"X-Amzn-SageMaker-Custom-Attributes": "raise=1"})
    assert raised[0] == 500 and json.loads(raised[2]) == {"error": "the handler refused the request"}
    # tfs-model-version in the custom attributes picks the version the handler's rest_uri names.
    status, _, answer = _post(
        own_handler_server.url,
        b'{"instances": [[1]]}',
        **{"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-version=9"},
    )
    assert (
        status == 500 and "Servable not found for request: Specific(model, 9)" in json.loads(answer)["error"]
    )


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (
            "import numpy\n\ndef handler(data, context):\n    return b'', 'application/json'\n",
            "No module named 'numpy'",
        ),
        (
            "def input_handler(data, context):\n    return data.read()\n",
            "Handlers are not implemented correctly",
        ),
    ],
)
def test_a_handler_the_image_could_not_import_fails_the_start(
    saved_model: Path, tmp_path: Path, script: str, reason: str
) -> None:
    """numpy is not among the image's packages (finding 2); half a pair is the image's NotImplementedError."""
    model = tmp_path / "model"
    shutil.copytree(saved_model / "model" / "1", model / "1")  # one version: one load before the failure
    (model / "code").mkdir()
    (model / "code" / "inference.py").write_text(script)
    log = tmp_path / "server.log"
    with pytest.raises(ServerStartError, match="exited with code") as raised:
        start_server(model, port=0, workers=1, log_file=log)
    assert reason in log.read_text()
    assert reason in str(raised.value)  # the error carries the end of the log: the log may be gone


def test_the_serving_environment_holds_the_images_packages_and_no_numpy() -> None:
    frozen = subprocess.run(
        [str(TFS_PYTHON), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    ).stdout.lower()
    for pin in ("falcon==3.1.0", "gunicorn==20.1.0", "gevent==21.12.0", "requests==2.27.1", "grpcio==1.46.3"):
        assert pin in frozen
    assert "tensorflow-serving-api==2.12.0" in frozen
    assert "numpy" not in frozen and "tensorflow==" not in frozen
    version = subprocess.run([str(TFS_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert version.strip() == "(3, 10)", sys.version


TF_CASES = [c for c in cases() if c.stack in ("keras", "keras-bare")]


@pytest.mark.parametrize("case", TF_CASES, ids=[f"{c.stack}-{c.name}" for c in TF_CASES])
def test_the_tf_serving_stack_answers_each_content_type_as_the_image_does(
    case: Case, request: pytest.FixtureRequest
) -> None:
    """The matrix's TF rows (matrix_cases.py): the Keras handlers, and the njs path without them."""
    server = request.getfixturevalue("packaged_server" if case.stack == "keras" else "tf_server")
    status, _, body = _post(server.url, case.body, case.content_type, Accept=case.accept)
    assert status == case.status, body[:400]
    assert case.expect in outcome(status, body), body[:400]
