# ruff: noqa: E501 - the matrix is a table: one case a line
"""The content-type matrix: what each real serving stack answers per body, as its source says it answers.

Four models, four contracts:

- `defaults`: a PyTorch model with model_fn only, so sagemaker-inference's decoder and encoder
  do the rest (decoder._decoder_map: JSON, CSV, NPY, NPZ; anything else UnsupportedFormatError,
  which the Transformer answers 500 "Content type ... is not supported by this framework", as any
  exception that is not a BaseInferenceToolkitError: a bad body is 500 too);
- `bundled`: the trainers' PyTorch model (training_code/common/cifar_inference.py: JSON and NPY in,
  its own 400s for anything else, but a JSON or CSV body that is not UTF-8 never reaches it: the
  Transformer decodes those types first, and the UnicodeDecodeError is its 500);
- `keras`: the Keras trainers' SavedModel with their handlers, under the TF Serving image's Python
  service (a handler's exception: 500 {"error": ...});
- `keras-bare`: the same SavedModel without code/, under the image's njs conversions (JSON, JSON
  Lines, CSV; anything else 415; TF Serving's own 400 for input the model cannot take).

Each case: (stack, name, content type, accept, body, expected status, expected text in the answer).
tests/serving/test_content_type_matrix.py asserts them; benchmarks/content_type_matrix.py prints
the table (case, expected, got).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from typing import NamedTuple

import numpy as np


class Case(NamedTuple):
    stack: str
    name: str
    content_type: str
    accept: str
    body: bytes
    status: int
    expect: str  # text the answer holds (the start of an error, or a shape)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def png(width: int = 32, height: int = 32) -> bytes:
    """A real grey PNG image (signature, IHDR, IDAT, IEND), standard library only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# The start of a baseline JPEG (SOI, APP0 JFIF): what a client sends as image/jpeg.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
IMAGES = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
JSON_IMAGES = json.dumps(IMAGES.tolist()).encode()
UNSUPPORTED = "is not supported by this framework"


def cases() -> list[Case]:
    row = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    return [
        # sagemaker-inference's defaults (a Linear(3, 1) of ones: the answer is each row's sum)
        Case("defaults", "JSON", "application/json", "application/json", json.dumps(row).encode(), 200, "[[6.0], [15.0]]"),
        Case("defaults", "CSV", "text/csv", "text/csv", b"1,2,3\n4,5,6\n", 200, "6.0\n15.0"),
        Case("defaults", "x-npy", "application/x-npy", "application/json", npy(np.array(row, np.float32)), 200, "[[6.0], [15.0]]"),
        Case("defaults", "JSON Lines", "application/jsonlines", "application/json", b"[1,2,3]\n[4,5,6]\n", 500, f"Content type application/jsonlines {UNSUPPORTED}"),
        Case("defaults", "x-image PNG", "image/png", "application/json", png(), 500, f"Content type image/png {UNSUPPORTED}"),
        Case("defaults", "x-image JPEG", "image/jpeg", "application/json", JPEG, 500, f"Content type image/jpeg {UNSUPPORTED}"),
        Case("defaults", "JSON body not JSON", "application/json", "application/json", b"[[1, 2", 500, "Expecting"),
        Case("defaults", "npy body not npy", "application/x-npy", "application/json", b"not npy", 500, ""),
        Case("defaults", "Accept not encodable", "application/json", "image/png", json.dumps(row).encode(), 500, f"Content type image/png {UNSUPPORTED}"),
        # the bundled trainers' PyTorch model
        Case("bundled", "JSON", "application/json", "application/json", JSON_IMAGES, 200, "(2, 10)"),
        Case("bundled", "x-npy", "application/x-npy", "application/json", npy(IMAGES), 200, "(2, 10)"),
        Case("bundled", "CSV", "text/csv", "application/json", b"1,2,3\n", 400, "Content-Type 'text/csv' is not supported"),
        Case("bundled", "JSON Lines", "application/jsonlines", "application/json", b"[1]\n[2]\n", 400, "Content-Type 'application/jsonlines' is not supported"),
        Case("bundled", "x-image PNG", "image/png", "application/json", png(), 400, "Content-Type 'image/png' is not supported"),
        Case("bundled", "x-image JPEG", "image/jpeg", "application/json", JPEG, 400, "Content-Type 'image/jpeg' is not supported"),
        Case("bundled", "JSON body not JSON", "application/json", "application/json", b"[[1, 2", 400, "the body is not a valid application/json array"),
        # JSON and CSV bodies are decoded as UTF-8 by the toolkit before input_fn (Transformer.transform, UTF8_TYPES): its 500
        Case("bundled", "JSON body a PNG", "application/json", "application/json", png(), 500, "'utf-8' codec can't decode byte 0x89"),
        Case("bundled", "npy body not npy", "application/x-npy", "application/json", b"[[1]]", 400, "the body is not a valid application/x-npy array"),
        # the Keras trainers' handlers in the TF Serving image's Python service
        Case("keras", "JSON", "application/json", "application/json", JSON_IMAGES, 200, "(2, 10)"),
        Case("keras", "x-npy", "application/x-npy", "application/json", npy(IMAGES), 200, "(2, 10)"),
        Case("keras", "CSV", "text/csv", "application/json", b"1,2,3\n", 500, "Content-Type 'text/csv' is not supported"),
        Case("keras", "JSON Lines", "application/jsonlines", "application/json", b"[1]\n[2]\n", 500, "Content-Type 'application/jsonlines' is not supported"),
        Case("keras", "x-image PNG", "image/png", "application/json", png(), 500, "Content-Type 'image/png' is not supported"),
        Case("keras", "x-image JPEG", "image/jpeg", "application/json", JPEG, 500, "Content-Type 'image/jpeg' is not supported"),
        Case("keras", "JSON body not JSON", "application/json", "application/json", b"[[1, 2", 500, "Expecting"),
        Case("keras", "npy body not npy", "application/x-npy", "application/json", b"[[1]]", 500, "the body is not a .npy array"),
        # the same SavedModel without handlers: the njs script's conversions and TF Serving's answers
        Case("keras-bare", "JSON", "application/json", "application/json", JSON_IMAGES, 200, "(2, 10)"),
        Case("keras-bare", "JSON Lines", "application/jsonlines", "application/jsonlines", b"[1,2]\n[3,4]\n", 400, "shape"),
        Case("keras-bare", "CSV", "text/csv", "application/json", b"1,2,3\n", 400, "shape"),
        Case("keras-bare", "x-npy", "application/x-npy", "application/json", npy(IMAGES), 415, "Unsupported Media Type: application/x-npy"),
        Case("keras-bare", "x-image PNG", "image/png", "application/json", png(), 415, "Unsupported Media Type: image/png"),
        Case("keras-bare", "x-image JPEG", "image/jpeg", "application/json", JPEG, 415, "Unsupported Media Type: image/jpeg"),
        Case("keras-bare", "JSON body not JSON", "application/json", "application/json", png(), 400, "JSON Parse error"),
    ]  # fmt: skip


def outcome(status: int, body: bytes) -> str:
    """What a case compares: a 200's JSON shape (or its text), else the error text."""
    text = body.decode("utf-8", "replace")
    if status == 200:
        try:
            value = json.loads(text)
        except ValueError:
            return text.strip()
        if isinstance(value, dict) and "predictions" in value:
            value = value["predictions"]
        array = np.asarray(value)
        return str(tuple(array.shape)) if array.size > 2 else json.dumps(value)
    return text


DEFAULTS_INFERENCE = """
import torch


def model_fn(model_dir):
    model = torch.nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.zero_()
    return model
"""
