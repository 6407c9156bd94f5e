"""`dtrain serve`'s server on the trained CIFAR-10 model: the hosting contract over HTTP."""

from __future__ import annotations

import http.client
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import torch

from dtrain.serving import ServerHandle, start_server

# One xdist worker runs every test of the session's trained_server (conftest.trained_server).
pytestmark = pytest.mark.xdist_group("trained-server")


def _post(url: str, body: bytes, content_type: str, accept: str | None = None) -> tuple[int, str, bytes]:
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
    request = urllib.request.Request(f"{url}/invocations", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def _expected_probabilities(model_dir: Path, images_nhwc: np.ndarray) -> np.ndarray:
    from common.cifar_model import load_model

    model = load_model(model_dir)
    mean = torch.tensor(model.config.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(model.config.std).view(1, 3, 1, 1) * 255
    x = (torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2)).float() - mean) / std
    with torch.no_grad():
        return torch.softmax(model(x), dim=1).numpy()


def test_ping_answers_200(trained_server: ServerHandle) -> None:
    with urllib.request.urlopen(f"{trained_server.url}/ping", timeout=30) as reply:
        assert reply.status == 200


def test_json_batch_in_probabilities_out_as_json_by_default(
    trained_server: ServerHandle, trained_model_dir: Path
) -> None:
    images = _images(4)
    status, content_type, body = _post(
        trained_server.url, json.dumps(images.tolist()).encode(), "application/json"
    )
    assert status == 200 and content_type == "application/json"
    probabilities = np.array(json.loads(body))
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probabilities, _expected_probabilities(trained_model_dir, images), atol=1e-5)


def test_single_json_image_is_a_batch_of_one(trained_server: ServerHandle) -> None:
    image = _images(1)[0]
    status, _, body = _post(
        trained_server.url, json.dumps(image.tolist()).encode(), "application/json", "*/*"
    )
    assert status == 200 and np.array(json.loads(body)).shape == (1, 10)


def test_npy_channels_first_in_npy_out(trained_server: ServerHandle, trained_model_dir: Path) -> None:
    images = _images(64, seed=1)
    status, content_type, body = _post(
        trained_server.url, _npy(images.transpose(0, 3, 1, 2)), "application/x-npy", "application/x-npy"
    )
    assert status == 200 and content_type == "application/x-npy"
    probabilities = np.load(io.BytesIO(body))
    np.testing.assert_allclose(probabilities, _expected_probabilities(trained_model_dir, images), atol=1e-5)


def test_wrong_image_shape_is_the_models_400_with_its_message(trained_server: ServerHandle) -> None:
    status, _, body = _post(trained_server.url, _npy(np.zeros((2, 28, 28), np.uint8)), "application/x-npy")
    assert status == 400
    assert body.decode().startswith("images must be (N, 32, 32, 3) or (N, 3, 32, 32); got shape (2, 28, 28)")


@pytest.mark.parametrize("path", ["/invocation", "/invocations/x"])
def test_unknown_route_is_404(trained_server: ServerHandle, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{trained_server.url}{path}", timeout=30)
    assert caught.value.code == 404


def _post_chunked(url: str, chunks: Iterator[bytes], content_type: str, accept: str) -> tuple[int, bytes]:
    """POST with Transfer-Encoding: chunked (no Content-Length), as a streaming client sends."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    try:
        headers = {"Content-Type": content_type, "Accept": accept}
        connection.request("POST", "/invocations", body=chunks, headers=headers, encode_chunked=True)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def test_a_chunked_body_is_read_not_taken_as_empty(trained_server: ServerHandle) -> None:
    payload = _npy(_images(3, seed=2))
    pieces = iter([payload[:100], payload[100:5000], payload[5000:]])
    status, body = _post_chunked(trained_server.url, pieces, "application/x-npy", "application/x-npy")
    assert status == 200, body[:300]
    assert np.load(io.BytesIO(body)).shape == (3, 10)


TORCHSERVE_MAX_REQUEST = 6553500  # TorchServe's max_request_size unless configured


def _big_batch(size_bytes: int) -> bytes:
    """An .npy uint8 image batch of at least `size_bytes` (3072 bytes an image, plus the header)."""
    return _npy(_images(size_bytes // 3072 + 1, seed=5))


def test_a_body_over_torchserves_default_max_request_size_is_413(trained_server: ServerHandle) -> None:
    """TorchServe refuses a body over max_request_size (6553500 bytes unless raised) with 413, from
    its Content-Length, before the body (Expect: 100-continue; a client that sends the body at once
    has its connection reset under it when the answer comes)."""
    where = urlsplit(trained_server.url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    try:
        connection.putrequest("POST", "/invocations")
        connection.putheader("Content-Type", "application/x-npy")
        connection.putheader("Content-Length", str(TORCHSERVE_MAX_REQUEST + 1))
        connection.putheader("Expect", "100-continue")
        connection.endheaders()
        reply = connection.getresponse()
        assert reply.status == 413
    finally:
        connection.close()
    with urllib.request.urlopen(f"{trained_server.url}/ping", timeout=30) as reply:
        assert reply.status == 200


@pytest.fixture(scope="module")
def raised_limit_server(
    trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerHandle, Path]]:
    """The trained model with a transform's max_payload of 100 MB in the model's environment, as
    dtrain's CreateModel sets it (inference_request._torchserve_payload_env), and a
    code/requirements.txt (a pin this interpreter holds: pip finds it satisfied, offline)."""
    import shutil

    limit = str(100 * 1024 * 1024)
    env = {"TS_MAX_REQUEST_SIZE": limit, "TS_MAX_RESPONSE_SIZE": limit}
    scratch = tmp_path_factory.mktemp("raised")
    model_dir = scratch / "model"
    shutil.copytree(trained_model_dir, model_dir)
    (model_dir / "code" / "requirements.txt").write_text(f"numpy=={np.__version__}\n")
    log = scratch / "server.log"
    with start_server(model_dir, port=0, workers=1, env=env, log_file=log) as handle:
        yield handle, log


def test_the_toolkit_installs_code_requirements_before_torchserve_starts(
    raised_limit_server: tuple[ServerHandle, Path],
) -> None:
    """sagemaker-inference's _install_requirements: `python -m pip install -r code/requirements.txt`
    with the serving interpreter, before `torchserve --start`."""
    text = raised_limit_server[1].read_text()
    assert f"Requirement already satisfied: numpy=={np.__version__}" in text
    assert text.index("Requirement already satisfied") < text.index("org.pytorch.serve.ModelServer")


def test_max_payload_in_the_environment_lets_torchserve_take_the_body(
    raised_limit_server: tuple[ServerHandle, Path],
) -> None:
    # Just over TorchServe's default (a bigger batch only costs the model's time), under the transform's.
    body = _big_batch(TORCHSERVE_MAX_REQUEST + 1)
    status, _, answer = _post(raised_limit_server[0].url, body, "application/x-npy", "application/x-npy")
    assert status == 200, answer[:300]
    assert np.load(io.BytesIO(answer)).shape == (len(body) // 3072, 10)


def test_a_python_file_at_the_models_root_shadows_an_import_as_in_the_image(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """TorchServe puts the model directory on its workers' PYTHONPATH (beside the toolkit's code/):
    a numpy.py beside model.pt breaks the model, as it does in SageMaker's PyTorch image. The start
    fails at the first worker's death, with the model's error, not after TorchServe's retries."""
    import shutil

    from dtrain.serving.server import ServerStartError

    model_dir = tmp_path / "model"
    shutil.copytree(trained_model_dir, model_dir)
    (model_dir / "numpy.py").write_text("raise ImportError('the archive root shadowed numpy')\n")
    with pytest.raises(ServerStartError, match="the archive root shadowed numpy"):
        start_server(model_dir, port=0, workers=1, log_file=tmp_path / "server.log").stop()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a killed orphan may wait as a zombie for a reaper: it is gone


def _process_group(pgid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_stop_kills_the_jvm_and_its_workers_when_serve_must_be_killed(
    raised_limit_server: tuple[ServerHandle, Path],
) -> None:
    """`serve` starts the JVM through `torchserve --start`, which exits: the JVM and its Python
    workers are no children of `serve`, only of its process group, which stop() kills. It kills
    the raised-limit server after the tests above used it (this file's tests run in its order, on
    one xdist worker: tests/conftest.py), instead of a server of its own (~4 CPU-s a start)."""
    import time

    handle = raised_limit_server[0]
    scratch = handle.scratch
    group = _process_group(handle.process.pid)
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in group]
    assert any(b"org.pytorch.serve.ModelServer" in c for c in commands), commands
    assert any(b"model_service_worker" in c for c in commands), commands
    handle.stop(timeout=0)  # no grace: SIGKILL at once, before `serve` could stop TorchServe
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in group) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in group if _alive(pid)]
    assert scratch is not None and not scratch.exists()


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/json", b"[[1, 2", 400, "the body is not a valid application/json array"),
        ("application/x-npy", b"not an array", 400, "the body is not a valid application/x-npy array"),
        ("text/csv", b"1,2,3\n", 400, "Content-Type 'text/csv' is not supported"),
        (
            "application/jsonlines",
            b"[1]\n[2]\n",
            400,
            "Content-Type 'application/jsonlines' is not supported",
        ),
        ("image/png", b"\x89PNG\r\n\x1a\n", 400, "Content-Type 'image/png' is not supported"),
    ],
)
def test_the_bundled_model_through_the_toolkit_per_content_type(
    trained_server: ServerHandle, content_type: str, body: bytes, status: int, message: str
) -> None:
    """What the real stack answers for the bundled model's contract (JSON and NPY in): the model's
    own 400 (sagemaker_inference's GenericInferenceToolkitError status) with its message first,
    the traceback after it, for a body that is not its type or a type the model does not take."""
    got, _, answer = _post(trained_server.url, body, content_type)
    assert got == status, answer[:300]
    assert answer.decode("utf-8", "replace").startswith(message), answer[:300]


def test_an_accept_the_model_cannot_answer_is_its_400(trained_server: ServerHandle) -> None:
    got, _, answer = _post(trained_server.url, _npy(_images(1)), "application/x-npy", "image/png")
    assert got == 400 and answer.decode().startswith("Accept 'image/png' is not supported"), answer[:300]
