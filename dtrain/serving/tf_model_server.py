"""`python -m dtrain.serving.tf_model_server`: TF Serving's REST API over TensorFlow, in place of its binary.

The TF Serving image runs `tensorflow_model_server --rest_api_port=8501 --model_config_file=...`,
a C++ binary that no registry reachable here ships (PyPI's tensorflow-serving-api is its gRPC
client: protobuf stubs, no server). This process takes its place in front of the image's Python
service (tf_python_service): TensorFlow (the .venv-hvd interpreter) loads each version's
SavedModel, and HTTP speaks the REST API as documented (tensorflow.org/tfx/serving/api_rest) and
as tensorflow/serving's http_rest_api_handler.cc answers:

- `GET /v1/models/<name>[/versions/<v>]`: {"model_version_status": [{"version", "state",
  "status": {"error_code", "error_message"}}]}; no such model is 404 "Could not find any versions
  of model <name>";
- `POST /v1/models/<name>[/versions/<v>]:predict`: `{"instances": [...]}` (row format; each
  instance a value, or an object keyed by input name) or `{"inputs": ...}` (columnar), optional
  `signature_name` (default serving_default); the answer is {"predictions": [...]} or
  {"outputs": ...}. No such servable is 404 "Servable not found for request: Latest(<name>)";
- any other path is 400 "Malformed request: <METHOD> <path>"; every error is {"error": "..."},
  with the status the gRPC code maps to (INVALID_ARGUMENT 400, NOT_FOUND 404, ...).

Not served: `:classify`/`:regress` (a Keras SavedModel has only predict signatures: 400 as TF
Serving answers it), `/metadata`, gRPC, batching. Flags follow the binary's where they exist
(`--rest_api_port`); `--model NAME=BASE_PATH` (repeatable) stands for its model config file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from dtrain.serving.parent_watch import watch_parent

log = logging.getLogger("dtrain.serving.tf_model_server")

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
# tensorflow/serving http_rest_api_handler.cc: the two routes it parses.
PREDICTION_PATH = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:(classify|regress|predict)", re.I)
STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+))?", re.I)


class ServingError(Exception):
    """A failed request: the gRPC status code's HTTP status and TF Serving's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def invalid(message: str) -> ServingError:
    return ServingError(400, message)  # INVALID_ARGUMENT


def not_found(message: str) -> ServingError:
    return ServingError(404, message)  # NOT_FOUND


@dataclass
class Version:
    number: int
    state: str = "START"
    error: str = ""
    loaded: Any = None


@dataclass
class Model:
    name: str
    base_path: Path
    versions: dict[int, Version] = field(default_factory=dict)

    def latest(self) -> Version | None:
        available = [v for v in self.versions.values() if v.state == "AVAILABLE"]
        return max(available, key=lambda v: v.number) if available else None


class ModelServer:
    """The models, each version loaded once (TF Serving's specific-versions policy, the image's)."""

    def __init__(self, models: dict[str, Model]) -> None:
        self.models = models

    def load(self) -> None:
        for model in self.models.values():
            for version in sorted(model.versions.values(), key=lambda v: v.number):
                version.state = "LOADING"
                path = model.base_path / str(version.number)
                try:
                    version.loaded = tf.saved_model.load(str(path))
                except Exception as exc:  # the binary with --max_num_load_retries=0: END, with the error
                    version.state, version.error = "END", str(exc).strip().splitlines()[0]
                    log.error("loading %s version %s failed: %s", model.name, version.number, version.error)
                    continue
                version.state = "AVAILABLE"
                log.info("model %s version %s available (%s)", model.name, version.number, path)

    # -- GET /v1/models/<name>[/versions/<v>] ----------------------------------------------------
    def status(self, name: str | None, version: str | None) -> dict[str, Any]:
        if not name:
            raise invalid("Missing model name in request.")
        model = self.models.get(name)
        if model is None or not model.versions:
            raise not_found(f"Could not find any versions of model {name}")
        chosen = list(model.versions.values())
        if version is not None:
            chosen = [v for v in chosen if v.number == int(version)]
            if not chosen:
                raise not_found(f"Could not find version {version} of model {name}")
        return {
            "model_version_status": [
                {
                    "version": str(v.number),
                    "state": v.state,
                    "status": {"error_code": "UNKNOWN" if v.error else "OK", "error_message": v.error},
                }
                for v in sorted(chosen, key=lambda v: -v.number)
            ]
        }

    # -- POST /v1/models/<name>[/versions/<v>]:<method> -----------------------------------------
    def servable(self, name: str, version: str | None) -> Version:
        model = self.models.get(name)
        chosen = None
        if model is not None:
            chosen = model.latest() if version is None else model.versions.get(int(version))
        if chosen is None or chosen.state != "AVAILABLE":
            spec = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise not_found(f"Servable not found for request: {spec}")
        return chosen

    def call(self, name: str, version: str | None, method: str, body: bytes) -> dict[str, Any]:
        servable = self.servable(name, version)
        try:
            request = json.loads(body)
        except ValueError as exc:
            raise invalid(f"JSON Parse error: {exc}") from None
        if not isinstance(request, dict):
            raise invalid("JSON Value: not an object. Expecting object with 'instances' or 'inputs' key")
        signature_name = request.get("signature_name") or DEFAULT_SIGNATURE
        signatures = servable.loaded.signatures
        if signature_name not in signatures:
            raise invalid(f'Serving signature name: "{signature_name}" not found in signature def')
        if method != "predict":
            expected = f"tensorflow/serving/{method}"
            raise invalid(
                f"Expected {'classification' if method == 'classify' else 'regression'} signature "
                f"method_name to be {expected}. Was: {PREDICT_METHOD}"
            )
        return predict(signatures[signature_name], request)


def predict(signature: Any, request: dict[str, Any]) -> dict[str, Any]:
    """One predict call in TF Serving's row or columnar format."""
    specs: dict[str, Any] = signature.structured_input_signature[1]
    row = "instances" in request
    if row == ("inputs" in request):
        raise invalid(
            "Missing 'inputs' or 'instances' key"
            if not row
            else "Not allowed to specify both 'inputs' and 'instances'"
        )
    data = request["instances" if row else "inputs"]
    if row and isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        _check_named_instances(data, specs)
    try:
        if len(specs) == 1 and not (row and data and isinstance(data[0], dict)):
            ((name, spec),) = specs.items()
            feeds = {name: np.asarray(data, dtype=spec.dtype.as_numpy_dtype)}
        elif row:  # each instance an object keyed by input name
            feeds = {
                n: np.asarray([item[n] for item in data], dtype=s.dtype.as_numpy_dtype)
                for n, s in specs.items()
            }
        else:
            feeds = {n: np.asarray(data[n], dtype=s.dtype.as_numpy_dtype) for n, s in specs.items()}
    except (ValueError, TypeError, KeyError) as exc:
        raise invalid(f"Failed to process element: {exc}") from None
    for name, array in feeds.items():
        # Checked before TensorFlow sees it: some kernels abort the process on a wrong rank (a
        # CHECK failure in a conv), where TF Serving answers the request 400.
        if not specs[name].shape.is_compatible_with(array.shape):
            raise invalid(
                f"input {name!r} has shape {list(array.shape)}; the signature takes "
                f"{specs[name].shape.as_list()} (None: any size)"
            )
    try:
        outputs = {
            k: v.numpy() for k, v in signature(**{k: tf.constant(v) for k, v in feeds.items()}).items()
        }
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
        raise invalid(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
    if not row:
        values = {k: v.tolist() for k, v in outputs.items()}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(outputs) == 1:
        return {"predictions": next(iter(outputs.values())).tolist()}
    count = len(next(iter(outputs.values())))
    return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(count)]}


def _check_named_instances(instances: list[dict[str, Any]], specs: dict[str, Any]) -> None:
    """Row format with objects: each names every input, and nothing else (TF Serving's json_tensor)."""
    for index, item in enumerate(instances):
        for key in item:
            if key not in specs:
                raise invalid(
                    f"Failed to process element: {index} key: {key} of 'instances' list. Error: "
                    f"Invalid argument: JSON object: does not have named input: {key}"
                )
        for name in specs:
            if name not in item:
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. Error: Invalid argument: "
                    f"JSON object: missing named input: {name}"
                )


class RestHandler(BaseHTTPRequestHandler):
    server_version = "dtrain-tf-model-server"
    protocol_version = "HTTP/1.1"  # keep-alive, as the binary's evhttp front
    models: ModelServer  # set on the subclass by serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        match = STATUS_PATH.fullmatch(self.path)
        if match is None:
            self._error(invalid(f"Malformed request: GET {self.path}"))
            return
        self._answer(lambda: self.models.status(match.group(1), match.group(2)))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        match = PREDICTION_PATH.fullmatch(self.path)
        if match is None:
            self._error(invalid(f"Malformed request: POST {self.path}"))
            return
        name, version, method = match.groups()
        self._answer(lambda: self.models.call(name, version, method.lower(), body))

    def _answer(self, work: Any) -> None:
        try:
            result = work()
        except ServingError as exc:
            self._error(exc)
            return
        except Exception as exc:  # INTERNAL: an answer, never a dropped connection
            log.exception("request failed")
            self._error(ServingError(500, f"{type(exc).__name__}: {exc}"))
            return
        self._send(200, json.dumps(result).encode())

    def _error(self, exc: ServingError) -> None:
        self._send(exc.status, json.dumps({"error": str(exc)}).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _parse_models(pairs: list[str]) -> dict[str, Model]:
    models: dict[str, Model] = {}
    for pair in pairs:
        name, _, base = pair.partition("=")
        base_path = Path(base)
        versions = {
            int(d.name): Version(int(d.name))
            for d in base_path.iterdir()
            if d.is_dir() and d.name.isdigit() and (d / "saved_model.pb").is_file()
        }
        models[name] = Model(name, base_path, versions)
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tf_model_server")
    parser.add_argument("--rest_api_port", type=int, required=True)
    parser.add_argument("--rest_api_host", default="127.0.0.1")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=BASE_PATH")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tf_model_server: %(message)s")
    watch_parent(os.getppid())  # the launcher (tf_serve)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ModelServer(_parse_models(args.model))
    handler = type("Handler", (RestHandler,), {"models": server})
    # Listening first, as the binary: status requests answer LOADING while the versions load.
    httpd = ThreadingHTTPServer((args.rest_api_host, args.rest_api_port), handler)
    httpd.daemon_threads = True
    threading.Thread(target=server.load, name="loader", daemon=True).start()
    log.info("Exporting HTTP/REST API at:%s:%d ...", args.rest_api_host, args.rest_api_port)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
