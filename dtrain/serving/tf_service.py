"""A TensorFlow SavedModel behind TensorFlow Serving's REST predict API, run in one server worker.

TensorFlow Serving's binary is not installable here, so TensorFlow itself loads the SavedModel
and this module speaks the REST API's predict format (tensorflow.org/tfx/serving/api_rest,
"Predict API"): `{"instances": [...]}` (row format; each instance a value, or an object keyed by
input name) or `{"inputs": ...}` (columnar), optional `signature_name` (default
`serving_default`); the answer is `{"predictions": [...]}` (row) or `{"outputs": ...}`
(columnar); a request the model cannot take is HTTP 400 `{"error": "..."}`.

SageMaker's TensorFlow Serving container (aws/sagemaker-tensorflow-serving-container,
docker/build_artifacts/sagemaker/python_service.py) finds the model under /opt/ml/model as
`<version>/saved_model.pb` (or `<name>/<version>/`), serves the highest version, and, when
`code/inference.py` defines `input_handler(data, context)` and `output_handler(response,
context)`, runs them around the predict call; both are supported here (its `handler`, which
posts to TF Serving by itself, is not). Imported in the server's workers only (TensorFlow).
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger("dtrain.serving")

JSON, CSV, ANY = "application/json", "text/csv", "*/*"


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    status: int = 200


def media_type(header: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json` (parameters dropped, lower case)."""
    return (header or "").split(";", 1)[0].strip().lower()


def import_user_module(code_dir: Path, program: str) -> ModuleType | None:
    """`code/inference.py` as module `inference`, with code/ first on sys.path (None: no such file)."""
    module_name = program[:-3] if program.endswith(".py") else program
    if not (code_dir / f"{module_name}.py").is_file():
        return None
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    return importlib.import_module(module_name)


SAVED_MODEL_FILE = "saved_model.pb"
DEFAULT_SIGNATURE = "serving_default"
DEFAULT_MODEL_NAME = "model"


class UnversionedSavedModelError(FileNotFoundError):
    """saved_model.pb at the model's root: TF Serving serves only numeric version directories."""


def find_saved_model(model_dir: Path) -> tuple[str, Path]:
    """(model name, the SavedModel directory to serve): the highest numeric version, as TFS does.

    TF Serving watches a model's base path for numeric subdirectories, each one version
    (tensorflow.org/tfx/serving/serving_basic: "/tmp/mnist/1"); a SavedModel at the base path
    itself is no version, and it serves nothing. The SageMaker container looks the same way
    (`<version>/saved_model.pb` or `<name>/<version>/saved_model.pb` under /opt/ml/model).
    """
    for name, root in [(DEFAULT_MODEL_NAME, model_dir)] + [
        (child.name, child)
        for child in sorted(model_dir.iterdir())
        if child.is_dir() and child.name != "code"
    ]:
        versions = [
            d for d in root.iterdir() if d.is_dir() and d.name.isdigit() and (d / SAVED_MODEL_FILE).is_file()
        ]
        if versions:
            return name, max(versions, key=lambda d: int(d.name))
    if (model_dir / SAVED_MODEL_FILE).is_file():
        raise UnversionedSavedModelError(
            f"{model_dir / SAVED_MODEL_FILE}: TF Serving serves a SavedModel only from a numeric version "
            f"directory (<model>/1/{SAVED_MODEL_FILE}); save it under {model_dir}/1"
        )
    raise FileNotFoundError(f"no SavedModel under {model_dir} (expected <version>/{SAVED_MODEL_FILE})")


def has_saved_model(model_dir: Path) -> bool:
    """A SavedModel anywhere TF Serving would look, or at the root (TensorFlow's, refused at load)."""
    if (model_dir / SAVED_MODEL_FILE).is_file():
        return True
    try:
        find_saved_model(model_dir)
    except (FileNotFoundError, OSError):
        return False
    return True


class _Request:
    """The `data` an input_handler reads (the container passes falcon's request stream)."""

    def __init__(self, body: bytes) -> None:
        self._stream = io.BytesIO(body)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


@dataclass
class HandlerContext:
    """The fields of the container's `Context` that a handler uses (tfs_utils.parse_request)."""

    model_name: str
    model_version: str
    method: str
    rest_uri: str
    grpc_uri: str
    custom_attributes: str | None
    request_content_type: str
    accept_header: str
    content_length: int


@dataclass
class PredictResponse:
    """What output_handler gets in place of the `requests.Response` from TF Serving."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.content)


class TensorFlowService:
    def __init__(self, model_dir: Path, environ: Mapping[str, str] = os.environ) -> None:
        self.tf: Any = importlib.import_module("tensorflow")
        self.model_name, path = find_saved_model(model_dir)
        self.version = path.name
        self.loaded = self.tf.saved_model.load(str(path))
        module = import_user_module(model_dir / "code", "inference.py")
        self.input_handler = getattr(module, "input_handler", None)
        self.output_handler = getattr(module, "output_handler", None)
        if module is not None and not (self.input_handler and self.output_handler):
            raise NotImplementedError(
                "code/inference.py must define both input_handler and output_handler "
                "(a `handler` of its own is not supported by dtrain serve)"
            )
        log.info(
            "SavedModel %s (version %s) from %s, signatures %s",
            self.model_name,
            self.version,
            path,
            sorted(self.loaded.signatures),
        )

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        accept = accept if accept and media_type(accept) != ANY else JSON
        if self.input_handler is None or self.output_handler is None:
            if media_type(content_type) == CSV:
                body = _csv_as_instances(body)
            # Without handlers the container hands TF Serving's answer through, a 400 included.
            response = self.predict(body)
            return Answer(response.content, JSON, response.status_code)
        context = HandlerContext(
            model_name=self.model_name,
            model_version=self.version,
            method="predict",
            rest_uri=f"in-process:/v1/models/{self.model_name}:predict",
            grpc_uri="",
            custom_attributes=None,
            request_content_type=content_type or "",
            accept_header=accept,
            content_length=len(body),
        )
        try:
            request = self.input_handler(_Request(body), context)
            payload = request if isinstance(request, bytes) else str(request).encode("utf-8")
            result = self.output_handler(self.predict(payload), context)
        except Exception as exc:
            # The container's python_service.py: a handler's exception is logged and answered
            # as 500 {"error": str(e)}.
            log.exception("exception handling request: %s", exc)
            return Answer(json.dumps({"error": str(exc)}).encode("utf-8"), JSON, 500)
        out, out_type = result if isinstance(result, tuple) else (result, accept)
        return Answer(out if isinstance(out, bytes) else str(out).encode("utf-8"), str(out_type))

    def predict(self, body: bytes) -> PredictResponse:
        """One TF Serving REST predict call: 200 with predictions/outputs, or 400 with the error."""
        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                raise ValueError("the request body must be a JSON object with 'instances' or 'inputs'")
            signature = self.loaded.signatures[request.get("signature_name", DEFAULT_SIGNATURE)]
            result = self._run(signature, request)
        except KeyError as exc:
            return _error(f"Serving signature name: {exc} not found in signature def")
        except Exception as exc:  # TF Serving answers any bad input with 400
            log.warning("predict failed: %s", exc)
            return _error(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return PredictResponse(200, json.dumps(result).encode("utf-8"))

    def _run(self, signature: Any, request: dict[str, Any]) -> dict[str, Any]:
        np = importlib.import_module("numpy")
        specs: dict[str, Any] = signature.structured_input_signature[1]
        row = "instances" in request
        if row == ("inputs" in request):
            raise ValueError(
                "Missing 'inputs' or 'instances' key" if not row else "both 'inputs' and 'instances'"
            )
        data = request["instances" if row else "inputs"]
        if len(specs) == 1:
            ((name, spec),) = specs.items()
            feeds = {name: np.asarray(data, dtype=spec.dtype.as_numpy_dtype)}
        elif row:
            feeds = {
                n: np.asarray([item[n] for item in data], dtype=s.dtype.as_numpy_dtype)
                for n, s in specs.items()
            }
        else:
            feeds = {n: np.asarray(data[n], dtype=s.dtype.as_numpy_dtype) for n, s in specs.items()}
        for name, array in feeds.items():
            # Checked before TensorFlow sees it: some kernels abort the process on a wrong rank
            # (a CHECK failure in a conv), where TF Serving answers 400.
            if not specs[name].shape.is_compatible_with(array.shape):
                raise ValueError(
                    f"input {name!r} has shape {list(array.shape)}; the signature takes "
                    f"{specs[name].shape.as_list()} (None: any size)"
                )
        outputs = {
            k: v.numpy() for k, v in signature(**{k: self.tf.constant(v) for k, v in feeds.items()}).items()
        }
        if not row:
            values = {k: v.tolist() for k, v in outputs.items()}
            return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values())).tolist()}
        count = len(next(iter(outputs.values())))
        return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(count)]}


def _error(message: str) -> PredictResponse:
    return PredictResponse(400, json.dumps({"error": message}).encode("utf-8"))


def _csv_as_instances(body: bytes) -> bytes:
    """CSV rows as row-format instances (the container's tensorflowServing.js csv_request)."""
    rows = [line for line in body.decode("utf-8").splitlines() if line.strip()]
    instances = [[json.loads(cell) for cell in line.split(",")] for line in rows]
    return json.dumps({"instances": instances}).encode("utf-8")
