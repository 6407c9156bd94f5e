"""The SageMaker PyTorch inference toolkit's handler chain, run in one server worker.

What the toolkit does (aws/sagemaker-inference-toolkit src/sagemaker_inference/transformer.py,
aws/sagemaker-pytorch-inference-toolkit src/sagemaker_pytorch_serving_container/
default_pytorch_inference_handler.py), re-implemented here because the toolkit needs its model
server (TorchServe, Java) around it:

- the user module is `code/<SAGEMAKER_PROGRAM>` (default inference.py) imported with `code/` on
  sys.path; each of model_fn, input_fn, predict_fn, output_fn it leaves out is the default below;
  transform_fn replaces the last three and may not be combined with them;
- a handler may take one more argument than the contract's, the request context;
- model_fn runs once per worker at start; a request runs input_fn -> predict_fn -> output_fn;
- Accept missing or `*/*` means SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (default JSON); JSON and
  CSV bodies reach input_fn as str, others as bytes; output_fn may return (body, content type).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dtrain.serving import content_types
from dtrain.serving.errors import UnsupportedFormatError

log = logging.getLogger("dtrain.serving")

DEFAULT_PROGRAM = "inference.py"
PROGRAM_ENV = "SAGEMAKER_PROGRAM"
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
DEFAULT_MODEL_FILENAME = "model.pt"
HANDLER_NAMES = ("model_fn", "input_fn", "predict_fn", "output_fn")


class ModelLoadError(Exception):
    """model.pt is not TorchScript, so the default model_fn cannot load it."""


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    status: int = 200


@dataclass
class Context:
    """What a handler that asks for a context gets: the model directory and the request headers."""

    system_properties: dict[str, Any]
    request_headers: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- the defaults


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_model_fn(model_dir: str) -> Any:
    """model.pt (or the only *.pt / *.pth) as TorchScript, as the toolkit's default loads it."""
    import torch

    path = Path(model_dir) / DEFAULT_MODEL_FILENAME
    if not path.exists():
        found = sorted(
            p.name for p in Path(model_dir).iterdir() if p.is_file() and p.suffix in (".pt", ".pth")
        )
        if len(found) != 1:
            raise ValueError(f"Exactly one .pth or .pt file is required for PyTorch models: {found}")
        path = Path(model_dir) / found[0]
    try:
        return torch.jit.load(str(path), map_location=_device())  # type: ignore[no-untyped-call]
    except RuntimeError as exc:
        raise ModelLoadError(
            f"Failed to load {path}. Please ensure model is saved using torchscript, "
            "or provide model_fn in code/inference.py."
        ) from exc


def default_input_fn(input_data: str | bytes, content_type: str) -> Any:
    import torch

    array = content_types.decode(input_data, content_type)
    if content_types.media_type(content_type) in content_types.UTF8_TYPES:
        tensor = torch.as_tensor(array, dtype=torch.float32)
    else:
        tensor = torch.from_numpy(array)
    return tensor.to(_device())


def default_predict_fn(data: Any, model: Any) -> Any:
    import torch

    with torch.no_grad():
        model = model.to(_device())
        model.eval()
        return model(data.to(_device()))


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    import torch

    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy()
    return content_types.encode(prediction, accept)


DEFAULTS: dict[str, Callable[..., Any]] = {
    "model_fn": default_model_fn,
    "input_fn": default_input_fn,
    "predict_fn": default_predict_fn,
    "output_fn": default_output_fn,
}


# ---------------------------------------------------------------- the user module


def import_user_module(code_dir: Path, program: str) -> ModuleType | None:
    """`code/inference.py` as module `inference`, with code/ first on sys.path (None: no such file)."""
    module_name = program[:-3] if program.endswith(".py") else program
    if not (code_dir / f"{module_name}.py").is_file():
        return None
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    return importlib.import_module(module_name)


def call_handler(func: Callable[..., Any], args: tuple[Any, ...], context: Context) -> Any:
    """Call with the contract's arguments, plus the context when the function takes one more."""
    count = len(inspect.signature(func).parameters)
    if count == len(args):
        return func(*args)
    if count == len(args) + 1:
        return func(*args, context)
    raise TypeError(f"{func.__name__} takes {count} arguments but {len(args)} were given.")


class TorchService:
    """The handler chain of one model, loaded once per worker."""

    def __init__(self, model_dir: Path, environ: Mapping[str, str] = os.environ) -> None:
        self.model_dir = model_dir
        self.default_accept = environ.get(DEFAULT_ACCEPT_ENV) or content_types.JSON
        module = import_user_module(model_dir / "code", environ.get(PROGRAM_ENV) or DEFAULT_PROGRAM)
        found = {name: getattr(module, name, None) for name in (*HANDLER_NAMES, "transform_fn")}
        if found["transform_fn"] and any(found[n] for n in ("input_fn", "predict_fn", "output_fn")):
            raise ValueError(
                "Cannot use transform_fn implementation in conjunction with "
                "input_fn, predict_fn, and/or output_fn implementation"
            )
        self.handlers = {name: found[name] or DEFAULTS[name] for name in HANDLER_NAMES}
        self.transform_fn: Callable[..., Any] | None = found["transform_fn"]
        self.user_handlers = sorted(name for name, func in found.items() if func)
        log.info(
            "model %s: user handlers %s, defaults for the rest",
            model_dir,
            ", ".join(self.user_handlers) or "(none: no code/inference.py)",
        )
        self.context = Context({"model_dir": str(model_dir)})
        self.model = call_handler(self.handlers["model_fn"], (str(model_dir),), self.context)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        context = Context(
            self.context.system_properties, {"Content-Type": content_type or "", "Accept": accept or ""}
        )
        if not accept or content_types.media_type(accept) == content_types.ANY:
            accept = self.default_accept
        data: str | bytes = body
        if content_types.media_type(content_type) in content_types.UTF8_TYPES:
            data = body.decode("utf-8")
        if self.transform_fn is not None:
            result = call_handler(self.transform_fn, (self.model, data, content_type, accept), context)
        else:
            decoded = call_handler(self.handlers["input_fn"], (data, content_type), context)
            prediction = call_handler(self.handlers["predict_fn"], (decoded, self.model), context)
            result = call_handler(self.handlers["output_fn"], (prediction, accept), context)
        return _as_answer(result, accept)


def _as_answer(result: Any, accept: str) -> Answer:
    """output_fn's result: a body (the type is then the Accept type) or (body, content type)."""
    body, content_type = result if isinstance(result, tuple) else (result, accept)
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes | bytearray):
        raise TypeError(f"output_fn returned {type(body).__name__}; it must return bytes or str")
    if content_type == content_types.ANY or not content_type:
        raise UnsupportedFormatError(accept)
    return Answer(bytes(body), str(content_type))
