"""inference.py of the CIFAR-10 model: shipped as ``code/inference.py`` in model.tar.gz.

The SageMaker PyTorch inference container (and ``dtrain serve``) imports it with ``code/`` on
sys.path, beside ``cifar_model.py`` (the model class), and calls model_fn once, then input_fn ->
predict_fn -> output_fn per request (the handler contract of aws/sagemaker-pytorch-inference-
toolkit). The contract of this model:

  in   a batch of uint8 RGB images, (N, 32, 32, 3) or (N, 3, 32, 32) (one image without the N is
       a batch of one), as JSON nested lists (application/json) or a NumPy array
       (application/x-npy)
  out  class probabilities, (N, 10) in CIFAR-10's class order (CLASSES), JSON by default;
       application/x-npy and text/csv on request (Accept)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from cifar_model import load_model

JSON, NPY, CSV = "application/json", "application/x-npy", "text/csv"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

try:  # in SageMaker's image: the toolkit's error type, which sets the HTTP status
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ToolkitError
except ImportError:  # elsewhere (dtrain serve): the same three attributes, read the same way

    class _ToolkitError(Exception):  # type: ignore[no-redef]
        def __init__(self, status_code: int, message: str | None = None, phrase: str | None = None) -> None:
            self.status_code, self.message, self.phrase = status_code, message or "", phrase or message or ""
            super().__init__(status_code, self.message, self.phrase)


def bad_request(message: str) -> Exception:
    return _ToolkitError(400, message)


def model_fn(model_dir: str) -> torch.nn.Module:
    return load_model(Path(model_dir))


def input_fn(body: str | bytes | bytearray, content_type: str) -> np.ndarray:
    kind = (content_type or "").split(";")[0].strip().lower()
    try:
        if kind == JSON:
            images = np.asarray(json.loads(body))
        elif kind == NPY:
            # TorchServe hands the body over as a bytearray (the toolkit decodes only JSON and CSV
            # to str); a str here is a client's latin-1 text, its bytes as sent.
            raw = body.encode("latin-1") if isinstance(body, str) else bytes(body)
            images = np.load(io.BytesIO(raw), allow_pickle=False)
        else:
            raise bad_request(f"Content-Type {content_type!r} is not supported: send {JSON} or {NPY}")
    except (ValueError, TypeError) as exc:
        raise bad_request(f"the body is not a valid {kind} array: {exc}") from None
    return as_image_batch(images)


def as_image_batch(images: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) uint8, from (N, 32, 32, 3) / (N, 3, 32, 32) / one image without N."""
    shape = tuple(images.shape)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] not in ((32, 32, 3), (3, 32, 32)):
        raise bad_request(f"images must be (N, 32, 32, 3) or (N, 3, 32, 32); got shape {shape}")
    if images.dtype.kind not in "iuf" or (images.size and (images.min() < 0 or images.max() > 255)):
        raise bad_request(f"pixels must be numbers in 0..255; got dtype {images.dtype}")
    if images.dtype.kind == "f" and images.size and not np.array_equal(images, np.round(images)):
        raise bad_request("pixels must be whole numbers in 0..255 (uint8 images), not scaled floats")
    if images.shape[1:] == (32, 32, 3):
        images = images.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images, dtype=np.uint8)


def predict_fn(images: np.ndarray, model: torch.nn.Module) -> np.ndarray:
    config = model.config
    mean = torch.tensor(config.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(config.std).view(1, 3, 1, 1) * 255
    with torch.inference_mode():
        x = (torch.from_numpy(images).float() - mean) / std
        return torch.softmax(model(x), dim=1).numpy()


def output_fn(probabilities: np.ndarray, accept: str) -> tuple[bytes, str]:
    for kind in (part.split(";")[0].strip().lower() for part in (accept or JSON).split(",")):
        if kind in (JSON, "*/*"):
            return json.dumps(probabilities.tolist()).encode(), JSON
        if kind == NPY:
            buffer = io.BytesIO()
            np.save(buffer, probabilities.astype(np.float32), allow_pickle=False)
            return buffer.getvalue(), NPY
        if kind == CSV:
            buffer_text = io.StringIO()
            np.savetxt(buffer_text, probabilities, delimiter=",", fmt="%.6g")
            return buffer_text.getvalue().encode(), CSV
    raise bad_request(f"Accept {accept!r} is not supported: ask for {JSON}, {NPY} or {CSV}")
