"""A Keras SavedModel behind `dtrain serve`: TensorFlow Serving's REST predict format.

The SavedModel is the Keras trainers' network (training_code/horovod/keras_cifar.build_model),
saved as they save it (`model.save(model_dir / "1", save_format="tf")`), by TensorFlow in the
Horovod virtualenv; the server's workers run under that interpreter too.
"""

from __future__ import annotations

import io
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dtrain.local.config import repo_root, training_code_dir
from dtrain.serving import ServerHandle, start_server

pytestmark = pytest.mark.horovod
HVD_PYTHON = repo_root() / ".venv-hvd" / "bin" / "python"

SAVE_MODEL = """
import sys
from pathlib import Path
sys.path[:0] = [sys.argv[2] + "/horovod", sys.argv[2]]
import numpy as np
import tensorflow as tf
from keras_cifar import build_model

out = Path(sys.argv[1])
tf.keras.utils.set_random_seed(0)
model = build_model(width=8, weight_decay=0.0)
model.save(out / "model" / "1", save_format="tf")
x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
np.save(out / "x.npy", x)
np.save(out / "logits.npy", model(x, training=False).numpy())

# The trainers' packaging (train_hvd_keras / train_tf_keras, right after model.save), and what the
# packaged model must answer for uint8 images: softmax of the logits of the trainer's normalisation.
import shutil
from common.model_code import package_keras_inference_code
from keras_cifar import CIFAR_MEAN, CIFAR_STD, _normalise
shutil.copytree(out / "model", out / "packaged")
package_keras_inference_code(out / "packaged", CIFAR_MEAN, CIFAR_STD)
images = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
np.save(out / "images.npy", images)
np.save(out / "probabilities.npy", tf.nn.softmax(model(_normalise(images), training=False)).numpy())
"""


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert HVD_PYTHON.exists(), f"{HVD_PYTHON} missing: make setup builds it"
    out = tmp_path_factory.mktemp("keras")
    subprocess.run(
        [str(HVD_PYTHON), "-c", SAVE_MODEL, str(out), str(training_code_dir())],
        check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    return out


@pytest.fixture(scope="module")
def tf_server(saved_model: Path) -> Iterator[ServerHandle]:
    with start_server(saved_model / "model", port=0, workers=1) as handle:
        yield handle


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str, bytes]:
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_saved_model_is_detected_and_served_by_tensorflow(tf_server: ServerHandle) -> None:
    assert tf_server.framework == "tensorflow"
    with urllib.request.urlopen(f"{tf_server.url}/ping", timeout=30) as reply:
        assert reply.status == 200


def test_instances_in_predictions_out(tf_server: ServerHandle, saved_model: Path) -> None:
    x = np.load(saved_model / "x.npy")
    status, content_type, body = _post(tf_server.url, json.dumps({"instances": x.tolist()}).encode())
    assert (status, content_type) == (200, "application/json")
    predictions = np.array(json.loads(body)["predictions"])
    np.testing.assert_allclose(predictions, np.load(saved_model / "logits.npy"), rtol=1e-4, atol=1e-5)


def test_columnar_inputs_answer_outputs(tf_server: ServerHandle, saved_model: Path) -> None:
    x = np.load(saved_model / "x.npy")[:1]
    status, _, body = _post(tf_server.url, json.dumps({"inputs": x.tolist()}).encode())
    assert status == 200 and np.array(json.loads(body)["outputs"]).shape == (1, 10)


def test_input_the_model_cannot_take_is_400_with_an_error_object(tf_server: ServerHandle) -> None:
    status, _, body = _post(tf_server.url, json.dumps({"instances": [[1, 2, 3]]}).encode())
    assert status == 400 and set(json.loads(body)) == {"error"}
    status, _, body = _post(tf_server.url, b'{"rows": []}')
    assert status == 400 and "instances" in json.loads(body)["error"]


@pytest.fixture(scope="module")
def packaged_server(saved_model: Path) -> Iterator[ServerHandle]:
    with start_server(saved_model / "packaged", port=0, workers=1) as handle:
        yield handle


def test_packaged_keras_model_takes_uint8_images_and_answers_probabilities(
    packaged_server: ServerHandle, saved_model: Path
) -> None:
    """code/inference.py's input_handler / output_handler, as SageMaker's TF Serving container runs them."""
    images = np.load(saved_model / "images.npy")
    expected = np.load(saved_model / "probabilities.npy")
    body = json.dumps({"instances": images.tolist()}).encode()
    status, content_type, answer = _post(packaged_server.url, body)
    assert (status, content_type) == (200, "application/json")
    np.testing.assert_allclose(json.loads(answer)["predictions"], expected, rtol=1e-4, atol=1e-6)
    buffer = io.BytesIO()
    np.save(buffer, images.transpose(0, 3, 1, 2))
    status, content_type, answer = _post(packaged_server.url, buffer.getvalue(), "application/x-npy")
    assert status == 200
    np.testing.assert_allclose(json.loads(answer)["predictions"], expected, rtol=1e-4, atol=1e-6)


def test_packaged_keras_model_refuses_a_bad_batch_as_the_container_does(
    packaged_server: ServerHandle,
) -> None:
    status, _, answer = _post(packaged_server.url, json.dumps({"instances": [[1, 2]]}).encode())
    assert status == 500
    assert json.loads(answer) == {
        "error": "images must be (N, 32, 32, 3) or (N, 3, 32, 32); got shape (1, 2)"
    }
