"""The TF Serving image's front: `/ping` and `/invocations`, under gunicorn in the image's Python.

SageMaker's TensorFlow Serving image (aws/deep-learning-containers tensorflow/inference/docker/
build_artifacts/sagemaker/) answers port 8080 with nginx. Where the model brings
`code/inference.py`, nginx hands /ping and /invocations to `python_service.py` (falcon under
gunicorn, gevent workers), which runs the script's `handler(data, context)`, or its
`input_handler(data, context)`, a `requests.post` of what it returns to TF Serving's REST URL,
and `output_handler(response, context)`; whatever a handler raises is 500 {"error": str(e)}.
Without it, nginx's njs script (tensorflowServing.js) turns JSON, JSON Lines and CSV bodies into
a predict request itself, refuses any other Content-Type with 415, and answers /ping from the
model's status.

This module is that front, written for dtrain (not the image's files), in one falcon app: the
handler path as python_service.py runs it, and the no-handler path as the njs script converts
(dtrain runs no nginx: gunicorn listens on the port itself). It runs in .venv-tfs, an interpreter
holding exactly the image's Python packages (requirements-tfs.txt), so a handler imports what it
would import in the image and nothing more (no numpy, no TensorFlow).

Environment (set by tf_serve, as the image's serve.py sets it): TFS_REST_PORTS (comma list),
TFS_DEFAULT_MODEL_NAME, DTRAIN_TFS_CODE_DIR (the model's code/).
"""

# The image's python_service.py patches the standard library for gevent before anything else.
import gevent.monkey

gevent.monkey.patch_all()

import importlib.util  # noqa: E402 - after the monkey patching, as in the image
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
from collections import namedtuple  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402, UP035 - Python 3.10 reads this module too

import falcon  # noqa: E402
import requests  # noqa: E402

log = logging.getLogger("dtrain.serving.tf_python_service")

CODE_DIR_ENV = "DTRAIN_TFS_CODE_DIR"
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
DEFAULT_CONTENT_TYPE = DEFAULT_ACCEPT = "application/json"
# tfs_utils.Context: what a handler's `context` holds.
Context = namedtuple(
    "Context",
    "model_name, model_version, method, rest_uri, grpc_port, channel, "
    "custom_attributes, request_content_type, accept_header, content_length",
)
Handler = Callable[[Any, Any], Any]
JSON_TYPES = ("application/json", "application/jsonlines", "application/jsons")


def tfs_attributes(header: str | None) -> dict[str, str]:
    """`tfs-model-name=x,tfs-method=predict` in X-Amzn-SageMaker-Custom-Attributes (tfs_utils)."""
    if not header:
        return {}
    return dict(match.split("=", 1) for match in re.findall(r"(tfs-[a-z\-]+=[^,]+)", header))


def tfs_uri(port: str, attributes: dict[str, str], default_model: str, with_method: bool = True) -> str:
    uri = f"http://127.0.0.1:{port}/v1/models/{attributes.get('tfs-model-name', default_model)}"
    if attributes.get("tfs-model-version"):
        uri += "/versions/" + attributes["tfs-model-version"]
    if with_method:
        uri += ":" + attributes.get("tfs-method", "predict")
    return uri


def load_handlers(script: Path) -> Handler:
    """The script's `handler`, or its input_handler/output_handler around TF Serving's REST call
    (python_service._import_handlers / _make_handler); neither is the image's NotImplementedError."""
    spec = importlib.util.spec_from_file_location("inference", script)
    assert spec is not None and spec.loader is not None
    inference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inference)
    if hasattr(inference, "handler"):
        return inference.handler  # type: ignore[no-any-return]
    if not (hasattr(inference, "input_handler") and hasattr(inference, "output_handler")):
        raise NotImplementedError("Handlers are not implemented correctly in user script.")
    input_handler, output_handler = inference.input_handler, inference.output_handler

    def handler(data: Any, context: Any) -> Any:
        processed_input = input_handler(data, context)
        response = requests.post(context.rest_uri, data=processed_input)
        return output_handler(response, context)

    return handler


# -- the njs script's conversions (no inference.py) ------------------------------------------------
def is_tfs_json(data: str) -> bool:
    return re.search(r'"(instances|inputs|examples)"\s*:', data) is not None


def is_json_lines(data: str) -> bool:
    # objects separated only by (optional) whitespace: JSON Lines
    return re.search(r"[}\]]\s*[\[{]", data) is not None


def generic_json_request(data: str) -> str:
    if not re.match(r"^\s*\[\s*\[", data):
        data = "[" + data + "]"
    return '{"instances":' + data + "}"


def json_lines_request(data: str) -> str:
    lines = [line.strip() for line in re.split(r"\r?\n", data.strip())]
    instances = ",".join(line for line in lines if line)
    return '{"instances":' + (instances if len(lines) == 1 else "[" + instances + "]") + "}"


def csv_request(data: str) -> str:
    """CSV rows as instances: numeric first fields pass as numbers, anything else quoted."""
    needs_quotes = re.match(r'^\s*("|[\d.Ee+\-]+.*)', data) is None
    rows = []
    for raw in re.split(r"\r?\n", data.strip()):
        line = raw.strip()
        if not line:
            continue
        if needs_quotes:
            # The njs script replaces only the first quote and the first comma (String.replace).
            line = '"' + line.replace('"', '\\"', 1).replace(",", '","', 1) + '"'
        rows.append("[" + line + "]" if "," in raw else line)
    return '{"instances":[' + ",".join(rows) + "]}"


def njs_predict_body(content_type: str | None, data: str) -> str | None:
    """The predict request the njs script makes of a body, or None: a Content-Type it refuses."""
    if content_type in JSON_TYPES:
        if is_tfs_json(data):
            return data
        return json_lines_request(data) if is_json_lines(data) else generic_json_request(data)
    if content_type == "text/csv":
        return csv_request(data)
    return None


class Service:
    def __init__(self) -> None:
        self.rest_ports = os.environ["TFS_REST_PORTS"].split(",")
        self.default_model = os.environ.get("TFS_DEFAULT_MODEL_NAME", "None")
        script = Path(os.environ[CODE_DIR_ENV]) / "inference.py"
        self.handler: Handler | None = load_handlers(script) if script.is_file() else None

    def on_get_ping(self, req: Any, res: Any) -> None:
        if self.handler is not None:
            res.status = falcon.HTTP_200  # python_service.PingResource: always 200
            return
        # tensorflowServing.js ping: 200 when the default model's status says AVAILABLE, else 502.
        attributes = tfs_attributes(req.get_header(CUSTOM_ATTRIBUTES_HEADER))
        uri = tfs_uri(random.choice(self.rest_ports), attributes, self.default_model, with_method=False)
        try:
            reply = requests.get(uri, timeout=10)
            ok = reply.status_code == 200 and '"AVAILABLE"' in reply.text
        except requests.RequestException:
            ok = False
        res.status = falcon.HTTP_200 if ok else falcon.HTTP_502

    def on_post_invocations(self, req: Any, res: Any) -> None:
        attributes = tfs_attributes(req.get_header(CUSTOM_ATTRIBUTES_HEADER))
        port = random.choice(self.rest_ports)
        uri = tfs_uri(port, attributes, self.default_model)
        if self.handler is None:
            self._njs_invocation(req, res, uri)
            return
        context = Context(
            attributes.get("tfs-model-name"),
            attributes.get("tfs-model-version"),
            attributes.get("tfs-method"),
            uri,
            None,
            None,
            req.get_header(CUSTOM_ATTRIBUTES_HEADER),
            req.get_header("Content-Type") or DEFAULT_CONTENT_TYPE,
            req.get_header("Accept") or DEFAULT_ACCEPT,
            req.content_length,
        )
        try:
            res.status = falcon.HTTP_200
            body, res.content_type = self.handler(req.stream, context)
            res.data = body if isinstance(body, bytes) else str(body).encode("utf-8")
        except Exception as exc:
            log.exception("exception handling request: %s", exc)
            res.status = falcon.HTTP_500
            res.content_type = falcon.MEDIA_JSON
            res.data = json.dumps({"error": str(exc)}).encode("utf-8")

    def _njs_invocation(self, req: Any, res: Any, uri: str) -> None:
        content_type = req.get_header("Content-Type")
        data = req.stream.read(req.content_length or 0).decode("utf-8", "replace")
        body = njs_predict_body(content_type, data)
        res.content_type = falcon.MEDIA_JSON
        if body is None:
            res.status = falcon.HTTP_415
            res.data = ('{"error": "Unsupported Media Type: ' + (content_type or "Unknown") + '"}').encode()
            return
        reply = requests.post(uri, data=body.encode("utf-8"))
        text = reply.text
        accept = req.get_header("Accept")
        if accept:
            types = accept.strip().replace(" ", "", 1).split(",")
            if "application/jsonlines" in types or "application/json" in types:
                text = text.replace("\n", "")
                res.content_type = types[0]
        res.status = f"{reply.status_code} {reply.reason}"
        res.data = text.encode("utf-8")


def not_found(req: Any, res: Any, **_params: Any) -> None:
    """nginx's `location /`: every other path is 404 {"error": "Not Found"} (routes match first)."""
    res.status = falcon.HTTP_404
    res.content_type = falcon.MEDIA_JSON
    res.data = b'{"error": "Not Found"}'


def create_app() -> Any:
    logging.basicConfig(format="%(process)d %(asctime)s %(levelname)-8s %(message)s", level=logging.INFO)
    app = falcon.App()
    service = Service()
    app.add_route("/ping", service, suffix="ping")
    app.add_route("/invocations", service, suffix="invocations")
    app.add_sink(not_found, r"/")
    return app
