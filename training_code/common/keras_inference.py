"""inference.py of the Keras CIFAR-10 SavedModel: shipped as ``code/inference.py`` in model.tar.gz.

SageMaker's TensorFlow Serving container (aws/sagemaker-tensorflow-serving-container, "Pre/Post-
Processing") runs ``input_handler(data, context)`` before TF Serving's REST predict and
``output_handler(response, context)`` after it; ``dtrain serve`` does the same. They make the
Keras model take what the PyTorch model takes, in TF Serving's format:

  in   ``{"instances": images}`` (or the bare list) as JSON, or a NumPy array
       (application/x-npy): uint8 RGB images (N, 32, 32, 3) or (N, 3, 32, 32), one image
       without N too
  out  ``{"predictions": probabilities}``, (N, 10), JSON; application/x-npy on request

The SavedModel itself takes normalised float images and answers logits; the normalisation
constants are the trainer's, written beside this file as normalization.json at save time.
Only json and numpy are needed (the container's Python service has no TensorFlow).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

JSON, NPY = "application/json", "application/x-npy"
_NORMALIZATION = json.loads((Path(__file__).resolve().parent / "normalization.json").read_text())
MEAN = np.asarray(_NORMALIZATION["mean"], dtype=np.float32)
STD = np.asarray(_NORMALIZATION["std"], dtype=np.float32)


def _kind(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def as_nhwc_batch(images: np.ndarray) -> np.ndarray:
    shape = tuple(images.shape)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] not in ((32, 32, 3), (3, 32, 32)):
        raise ValueError(f"images must be (N, 32, 32, 3) or (N, 3, 32, 32); got shape {shape}")
    if images.dtype.kind not in "iuf" or (images.size and (images.min() < 0 or images.max() > 255)):
        raise ValueError(f"pixels must be numbers in 0..255; got dtype {images.dtype}")
    # As cifar_inference (the PyTorch model's): 0..1 floats would be taken as near-black pixels.
    if images.dtype.kind == "f" and images.size and not np.array_equal(images, np.round(images)):
        raise ValueError("pixels must be whole numbers in 0..255 (uint8 images), not scaled floats")
    return images.transpose(0, 2, 3, 1) if images.shape[1:] == (3, 32, 32) else images


def input_handler(data: Any, context: Any) -> str:
    body = data.read()
    kind = _kind(context.request_content_type)
    if kind == NPY:
        images = np.load(io.BytesIO(body), allow_pickle=False)
    elif kind == JSON:
        request = json.loads(body)
        images = np.asarray(request["instances"] if isinstance(request, dict) else request)
    else:
        raise ValueError(
            f"Content-Type {context.request_content_type!r} is not supported: send {JSON} or {NPY}"
        )
    normalised = (as_nhwc_batch(images).astype(np.float32) - MEAN) / STD
    return json.dumps({"instances": normalised.tolist()})


def output_handler(response: Any, context: Any) -> tuple[bytes, str]:
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8"))
    logits = np.asarray(response.json()["predictions"], dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = exp / exp.sum(axis=1, keepdims=True)
    if _kind(context.accept_header) == NPY:
        buffer = io.BytesIO()
        np.save(buffer, probabilities.astype(np.float32), allow_pickle=False)
        return buffer.getvalue(), NPY
    return json.dumps({"predictions": probabilities.tolist()}).encode("utf-8"), JSON
