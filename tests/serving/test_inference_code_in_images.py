"""The bundled inference code and the serving settings, in the circumstances of SageMaker's images.

What each test reproduces (issue 28's findings): TorchServe hands input_fn a bytearray; the TF
Serving image's handler Python has no numpy; the transform's max_payload needs TorchServe's size
limits raised; torch.load before 1.13 has no weights_only; TF Serving serves only numeric
version directories; the TF examples name the TensorFlow their image ships. The same code
through the real TorchServe is in test_torchserve_stack.py.
"""

from __future__ import annotations

import inspect
import io
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from dtrain.jobspec.inference_images import inference_image_uri
from dtrain.jobspec.spec import parse_spec
from dtrain.local.config import repo_root, training_code_dir
from dtrain.requests.inference_request import build_model_request
from dtrain.serving.tf_models import (
    ServableModel,
    UnversionedSavedModelError,
    has_saved_model,
    servable_models,
)

COMMON = training_code_dir() / "common"
MEAN, STD = [125.3, 123.0, 113.9], [63.0, 62.1, 66.7]


@pytest.fixture
def cifar_inference(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(COMMON))
    import cifar_inference

    return cifar_inference


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_npy_body_as_torchserve_hands_it_over_is_a_batch(cifar_inference: ModuleType) -> None:
    """TorchServe passes the request body as a bytearray; the toolkit turns only JSON/CSV into str."""
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    batch = cifar_inference.input_fn(bytearray(_npy(images)), "application/x-npy")
    assert batch.shape == (2, 3, 32, 32) and np.array_equal(batch, images.transpose(0, 3, 1, 2))


def test_model_loads_with_a_torch_load_from_before_weights_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """torch 1.12's `load(f, map_location=None, pickle_module=pickle, **pickle_load_args)` hands
    weights_only to pickle's Unpickler, which refuses it; the model must load there too.

    torch < 1.13 has no wheel for this Python, so its signature stands in: the same keyword
    forwarding, over this torch's loader."""
    monkeypatch.syspath_prepend(str(COMMON))
    import cifar_model
    import torch

    real_load = torch.load

    def load_of_torch_1_12(
        f: Any, map_location: Any = None, pickle_module: Any = pickle, **pickle_load_args: Any
    ) -> Any:
        pickle.Unpickler(io.BytesIO(b""), **pickle_load_args)  # TypeError on weights_only, as in 1.12
        return real_load(f, map_location=map_location, weights_only=False)

    assert "weights_only" not in inspect.signature(load_of_torch_1_12).parameters
    model = cifar_model.CifarNet(cifar_model.ModelConfig(width=4))
    cifar_model.save_model(model, model.config, tmp_path)
    monkeypatch.setattr(torch, "load", load_of_torch_1_12)
    loaded = cifar_model.load_model(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


KERAS_HANDLERS = """
import json, sys
sys.path.insert(0, sys.argv[1])
assert "numpy" not in sys.modules
import inference
assert "numpy" not in sys.modules, "the handler imported numpy"
class Data:
    def __init__(self, body): self.body = body
    def read(self): return self.body
class Context:
    def __init__(self, content_type, accept):
        self.request_content_type, self.accept_header = content_type, accept
class Response:
    status_code = 200
    def __init__(self, body): self.content = body
    def json(self): return json.loads(self.content)
request = json.loads(sys.stdin.read())
body = bytes.fromhex(request["body"])
instances = inference.input_handler(Data(body), Context(request["type"], ""))
out = {"instances": json.loads(instances)["instances"]}
response = Response(json.dumps(request["logits"]).encode())
answer, kind = inference.output_handler(response, Context("", request["accept"]))
out["answer"], out["kind"] = answer.hex(), kind
print(json.dumps(out))
"""


def _keras_code(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "inference.py").write_text((COMMON / "keras_inference.py").read_text())
    (code / "normalization.json").write_text(json.dumps({"mean": MEAN, "std": STD}))
    return code


def _run_keras_handlers(
    code: Path, body: bytes, content_type: str, logits: Any, accept: str
) -> dict[str, Any]:
    # -I -S: the interpreter's standard library and nothing else (no site-packages: no numpy), a
    # subset of the TF Serving image's handler environment (its Dockerfile adds no numpy).
    request = {"body": body.hex(), "type": content_type, "logits": {"predictions": logits}, "accept": accept}
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", KERAS_HANDLERS, str(code)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("layout", ["nhwc-json", "nchw-npy", "one-image-npy"])
def test_keras_handlers_run_without_numpy(tmp_path: Path, layout: str) -> None:
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    logits = np.random.default_rng(2).normal(size=(3, 10))
    if layout == "nhwc-json":
        body, kind = json.dumps({"instances": images.tolist()}).encode(), "application/json"
    elif layout == "nchw-npy":
        body, kind = _npy(images.transpose(0, 3, 1, 2)), "application/x-npy"
    else:
        images, logits = images[:1], logits[:1]
        body, kind = _npy(images[0].astype(np.float64)), "application/x-npy"
    out = _run_keras_handlers(_keras_code(tmp_path), body, kind, logits.tolist(), "application/x-npy")
    expected = (images.astype(np.float64) - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(np.array(out["instances"]), expected, rtol=1e-12)
    assert out["kind"] == "application/x-npy"
    probabilities = np.load(io.BytesIO(bytes.fromhex(out["answer"])), allow_pickle=False)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, exp / exp.sum(axis=1, keepdims=True), rtol=1e-6)


def test_keras_handler_refuses_what_the_pytorch_handler_refuses(tmp_path: Path) -> None:
    code = _keras_code(tmp_path)
    for images, message in (
        (np.zeros((2, 32, 32), np.uint8), "got shape (2, 32, 32)"),
        (np.full((1, 32, 32, 3), 0.5), "not scaled floats"),
        (np.full((1, 32, 32, 3), 300), "0..255"),
    ):
        request = {"body": _npy(images).hex(), "type": "application/x-npy", "logits": {}, "accept": ""}
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", KERAS_HANDLERS, str(code)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0 and message in done.stderr, done.stderr


def test_saved_model_at_the_root_is_refused_as_tf_serving_serves_none(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"")
    model = tmp_path / "model"  # the image's /opt/ml/model
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"")
    assert has_saved_model(model)  # TensorFlow's: served by the TF service, which refuses it
    with pytest.raises(UnversionedSavedModelError, match=r"numeric version directory"):
        servable_models(model)
    for version in ("1", "12", "3"):
        (model / version).mkdir()
        (model / version / "saved_model.pb").write_bytes(b"")
    (model / "code" / "7").mkdir(parents=True)  # code/ holds the handlers, never a model
    (model / "code" / "7" / "saved_model.pb").write_bytes(b"")
    (model / "resnet" / "2").mkdir(parents=True)
    (model / "resnet" / "2" / "saved_model.pb").write_bytes(b"")
    assert servable_models(model) == [
        ServableModel("model", model, (1, 3, 12)),  # every version, as the image's model config lists them
        ServableModel("resnet", model / "resnet", (2,)),
    ]


def test_tensorflow_examples_name_the_tensorflow_of_their_image() -> None:
    dockerfile = (training_code_dir() / "horovod" / "Dockerfile").read_text()
    shipped = re.search(r"^ARG TENSORFLOW_VERSION=(\S+)$", dockerfile, re.M)
    assert shipped is not None
    examples = sorted((repo_root() / "examples").rglob("*.json"))
    tensorflow = [p for p in examples if json.loads(p.read_text()).get("framework") == "tensorflow"]
    assert len(tensorflow) >= 3
    for path in tensorflow:
        estimator = json.loads(path.read_text())["estimator"]
        assert estimator["image_uri"] == "horovod", path
        assert estimator["framework_version"] == shipped.group(1), path
        # ... and a TF Serving image exists for it (a deploy block takes the estimator's version).
        assert inference_image_uri(
            "tensorflow", estimator["framework_version"], "eu-west-1", "ml.m5.large", None
        )


def _model_env(max_payload: int | None) -> dict[str, str]:
    transform: dict[str, Any] = {
        "instance_count": 1,
        "instance_type": "ml.m5.xlarge",
        "data": "s3://my-data/test",
    }
    if max_payload is not None:
        transform["max_payload"] = max_payload
    spec = parse_spec(
        {
            "framework": "pytorch",
            "estimator": {
                "entry_point": "train.py",
                "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1",
                "framework_version": "2.2.0",
                "py_version": "py310",
                "role": "arn:aws:iam::123456789012:role/r",
                "output_path": "s3://my-output/jobs",
                "instance_type": "ml.m5.xlarge",
                "instance_count": 1,
            },
            "transform": transform,
        }
    )
    request = build_model_request(
        spec, None, training_job_name="job-1", block="transform", region="us-east-1"
    )
    return request["PrimaryContainer"]["Environment"]  # type: ignore[no-any-return]


def test_transform_max_payload_over_torchserve_default_raises_its_limits() -> None:
    env = _model_env(100)
    assert env["TS_MAX_REQUEST_SIZE"] == env["TS_MAX_RESPONSE_SIZE"] == str(100 * 1024 * 1024)
    # Up to TorchServe's own 6553500 bytes the model's environment stays the SDK's.
    assert not {"TS_MAX_REQUEST_SIZE", "TS_MAX_RESPONSE_SIZE"} & set(_model_env(6))
    assert "TS_MAX_REQUEST_SIZE" not in _model_env(None)
