"""The content types of the SageMaker inference toolkits, and their NumPy decoders/encoders.

One table per direction, as in aws/sagemaker-inference-toolkit (src/sagemaker_inference/
decoder.py, encoder.py, content_types.py): JSON nested lists, CSV rows and NPY arrays in; JSON,
CSV and NPY out. The default handlers of `torch_service` and the bundled inference.py use them.
Imported in the server's workers only (numpy).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from dtrain.serving.errors import UnsupportedFormatError

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
ANY = "*/*"
# Bodies of these types reach input_fn as str (the toolkit's transformer.py decodes them as UTF-8).
UTF8_TYPES = (JSON, CSV)


def media_type(header: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json` (parameters dropped, lower case).

    The toolkit compares the header as sent; SageMaker clients send bare types, and a charset
    parameter names the encoding the UTF-8 decode below assumes anyway.
    """
    return (header or "").split(";", 1)[0].strip().lower()


def parse_accept(accept: str) -> list[str]:
    """An Accept header's types in order (sagemaker_inference.utils.parse_accept)."""
    return [media_type(part) for part in accept.split(",") if part.strip()]


def _json_to_numpy(body: str | bytes) -> Any:
    return np.array(json.loads(body))


def _csv_to_numpy(body: str | bytes) -> Any:
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return np.genfromtxt(io.StringIO(text), delimiter=",")


def _npy_to_numpy(body: str | bytes) -> Any:
    # The toolkit loads with allow_pickle=True; a pickle in a request body runs code in the
    # server, so only plain arrays are accepted here.
    return np.load(
        io.BytesIO(body if isinstance(body, bytes) else body.encode("latin-1")), allow_pickle=False
    )


def _to_json(value: Any) -> bytes:
    def default(item: Any) -> Any:
        if hasattr(item, "tolist"):
            return item.tolist()
        raise TypeError(f"{type(item).__name__} is not JSON serializable")

    return json.dumps(value, default=default).encode("utf-8")


def _to_csv(value: Any) -> bytes:
    stream = io.StringIO()
    np.savetxt(stream, np.asarray(value), delimiter=",", fmt="%s")
    return stream.getvalue().encode("utf-8")


def _to_npy(value: Any) -> bytes:
    stream = io.BytesIO()
    np.save(stream, np.asarray(value), allow_pickle=False)
    return stream.getvalue()


DECODERS: dict[str, Callable[[str | bytes], Any]] = {
    JSON: _json_to_numpy,
    CSV: _csv_to_numpy,
    NPY: _npy_to_numpy,
}
ENCODERS: dict[str, Callable[[Any], bytes]] = {JSON: _to_json, CSV: _to_csv, NPY: _to_npy}


def decode(body: str | bytes, content_type: str) -> Any:
    """A request body of one of the default types as a NumPy array (decoder.decode)."""
    decoder = DECODERS.get(media_type(content_type))
    if decoder is None:
        raise UnsupportedFormatError(content_type)
    return decoder(body)


def encode(value: Any, accept: str) -> tuple[bytes, str]:
    """`value` in the first type of `accept` that has an encoder, and that type (encoder.encode)."""
    for content_type in parse_accept(accept):
        encoder = ENCODERS.get(content_type)
        if encoder is not None:
            return encoder(value), content_type
    raise UnsupportedFormatError(accept)
