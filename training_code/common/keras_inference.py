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

Standard library only. The Python that runs these handlers in the TF Serving image holds no
numpy and no TensorFlow: aws/deep-learning-containers tensorflow/inference/docker/2.12/py3/
Dockerfile.cpu installs awscli<2, boto3, cython, gevent, requests, grpcio, protobuf, packaging,
tensorflow-serving-api (--no-dependencies), falcon and gunicorn, nothing else; a model that
needs more must bring a code/requirements.txt, installed at every start (and not at all under
network isolation). So the .npy format (numpy's NEP 1, version 1.0-3.0, C order) is read and
written here with `struct`/`array`.
"""

from __future__ import annotations

import array
import ast
import json
import math
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

JSON, NPY = "application/json", "application/x-npy"
_NORMALIZATION = json.loads((Path(__file__).resolve().parent / "normalization.json").read_text())
MEAN: list[float] = [float(v) for v in _NORMALIZATION["mean"]]
STD: list[float] = [float(v) for v in _NORMALIZATION["std"]]
NPY_MAGIC = b"\x93NUMPY"
# .npy dtype (without its byte-order mark) -> the array module's type code of that size.
_TYPECODES = {"u1": "B", "i1": "b", "u2": "H", "i2": "h", "u4": "I", "i4": "i", "u8": "Q", "i8": "q"}
_TYPECODES |= {"f4": "f", "f8": "d"}


def _kind(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def read_npy(body: bytes) -> tuple[list[float], tuple[int, ...]]:
    """(values in C order, shape) of a .npy array of plain numbers (no pickles, no Fortran order)."""
    if not body.startswith(NPY_MAGIC) or len(body) < 10:
        raise ValueError("the body is not a .npy array (no \\x93NUMPY header)")
    major = body[6]
    size_format, start = ("<H", 10) if major == 1 else ("<I", 12)
    (header_len,) = struct.unpack_from(size_format, body, 8)
    header = ast.literal_eval(body[start : start + header_len].decode("latin-1"))
    descr, shape = str(header["descr"]), tuple(int(n) for n in header["shape"])
    if header.get("fortran_order"):
        raise ValueError("Fortran-ordered .npy arrays are not supported")
    typecode = _TYPECODES.get(descr[1:])
    if typecode is None or descr[0] not in "<>|=":
        raise ValueError(f"a .npy array of dtype {descr!r} is not supported: send numbers")
    values = array.array(typecode)
    if values.itemsize != int(descr[2:]):
        raise ValueError(f"a .npy array of dtype {descr!r} is not supported here")
    values.frombytes(body[start + header_len :])
    if (descr[0] == ">") != (sys.byteorder == "big") and descr[0] in "<>":
        values.byteswap()
    if len(values) != math.prod(shape):
        raise ValueError(f"the .npy body holds {len(values)} values, its header says shape {shape}")
    return values.tolist(), shape


def write_npy(rows: Sequence[Sequence[float]]) -> bytes:
    """A float32 (N, M) .npy array, version 1.0 (header padded so the data is 64-byte aligned)."""
    shape = (len(rows), len(rows[0]) if rows else 0)
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    padding = 64 - (len(NPY_MAGIC) + 4 + len(header) + 1) % 64
    header += " " * (padding % 64) + "\n"
    values = array.array("f", [v for row in rows for v in row])
    if sys.byteorder == "big":
        values.byteswap()
    return (
        NPY_MAGIC + b"\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + values.tobytes()
    )


def flatten(nested: Any) -> tuple[list[Any], tuple[int, ...]]:
    """(values in C order, shape) of nested JSON lists; a ragged list is an error."""
    shape: list[int] = []
    probe = nested
    while isinstance(probe, list):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    values: list[Any] = []

    def walk(item: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(item, list):
                raise ValueError("the images are a ragged list (rows of different lengths)")
            values.append(item)
            return
        if not isinstance(item, list) or len(item) != shape[depth]:
            raise ValueError("the images are a ragged list (rows of different lengths)")
        for child in item:
            walk(child, depth + 1)

    walk(nested, 0)
    return values, tuple(shape)


def normalised_nhwc(values: list[Any], shape: tuple[int, ...]) -> list[Any]:
    """uint8 images (N, 32, 32, 3) / (N, 3, 32, 32) / one without N -> normalised NHWC nested lists."""
    given = shape
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or shape[1:] not in ((32, 32, 3), (3, 32, 32)):
        raise ValueError(f"images must be (N, 32, 32, 3) or (N, 3, 32, 32); got shape {given}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 255:
            raise ValueError(f"pixels must be numbers in 0..255; got {v!r}")
        # As cifar_inference (the PyTorch model's): 0..1 floats would be taken as near-black pixels.
        if v != round(v):
            raise ValueError("pixels must be whole numbers in 0..255 (uint8 images), not scaled floats")
    count, channels_first = shape[0], shape[1] == 3
    pixels = 32 * 32

    def value(n: int, y: int, x: int, c: int) -> float:
        index = (n * 3 + c) * pixels + y * 32 + x if channels_first else ((n * 32 + y) * 32 + x) * 3 + c
        return (float(values[index]) - MEAN[c]) / STD[c]

    return [
        [[[value(n, y, x, c) for c in range(3)] for x in range(32)] for y in range(32)] for n in range(count)
    ]


def softmax(logits: Sequence[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def input_handler(data: Any, context: Any) -> str:
    body = data.read()
    kind = _kind(context.request_content_type)
    if kind == NPY:
        values, shape = read_npy(bytes(body))
    elif kind == JSON:
        request = json.loads(body)
        values, shape = flatten(request["instances"] if isinstance(request, dict) else request)
    else:
        raise ValueError(
            f"Content-Type {context.request_content_type!r} is not supported: send {JSON} or {NPY}"
        )
    return json.dumps({"instances": normalised_nhwc(values, shape)})


def output_handler(response: Any, context: Any) -> tuple[bytes, str]:
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8"))
    probabilities = [softmax([float(v) for v in row]) for row in response.json()["predictions"]]
    if _kind(context.accept_header) == NPY:
        return write_npy(probabilities), NPY
    return json.dumps({"predictions": probabilities}).encode("utf-8"), JSON
