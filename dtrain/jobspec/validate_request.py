"""Strict check of a CreateTrainingJob request against botocore's SageMaker service model.

botocore's own ParamValidator checks required keys and types only; SageMaker then refuses
enums, lengths, ranges and patterns at call time, after a Step Functions execution has
started. This walks the same model shapes and checks all of them, so a request that leaves
the builder is one SageMaker accepts (as far as its published model says).

AWS writes patterns for Java's regex engine; Python cannot compile some of them (`\\p{L}`,
`\\p{Alnum}`). Those are translated to classes that match at least what Java matches
(never stricter), and a pattern that still does not compile is skipped and listed in
`untranslatable_patterns()` rather than guessed.

botocore is imported on first use, not at import time: the submit Lambda's cold start
budget is a bare boto3 client's; where no boto3 session exists yet (the offline commands) the
model file is read without importing botocore at all (`_model_file`).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dtrain.jobspec.errors import RequestValidationError, SpecError
from dtrain.jobspec.service_rules import check_service_rules

OPERATION = "CreateTrainingJob"
_NON_ASCII = "\\u0080-\\U0010ffff"
# Java's Unicode and POSIX classes -> Python class contents matching a superset.
_CLASS_CONTENTS = {
    "L": f"a-zA-Z{_NON_ASCII}",
    "Z": f" {_NON_ASCII}",
    "N": f"0-9{_NON_ASCII}",
    "Alnum": "a-zA-Z0-9",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Upper": "A-Z",
    "Lower": "a-z",
    "Punct": "!-/:-@\\[-`{-~",
    "Space": " \\t\\n\\x0b\\f\\r",
    "XDigit": "0-9a-fA-F",
}
_P_CLASS = re.compile(r"\\p\{(?:Is)?([A-Za-z]+)\}")
_untranslatable: set[str] = set()


def translate_java_pattern(pattern: str) -> str | None:
    """A Python pattern matching at least what the Java one matches, or None."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            m = _P_CLASS.match(pattern, i)
            if m:
                contents = _CLASS_CONTENTS.get(m.group(1))
                if contents is None:
                    return None
                out.append(contents if in_class else f"[{contents}]")
                i = m.end()
                continue
            if pattern[i + 1] in "PQEz":  # negated classes, quoting, \z: not worth guessing
                return None
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    translated = "".join(out)
    try:
        re.compile(translated)
    except re.error:
        return None
    return translated


def _loader() -> Any:
    """boto3's default-session loader when a client already exists, else a fresh one.

    In the submit Lambda `boto3.client("sagemaker")` has parsed the same model file; its
    loader caches it, so reusing it saves about 100 ms of a cold invocation.
    """
    boto3 = sys.modules.get("boto3")
    loader = getattr(getattr(boto3, "DEFAULT_SESSION", None), "_loader", None)
    if loader is not None:
        return loader
    import botocore.loaders

    return botocore.loaders.create_loader()


def _model_file() -> Path | None:
    """botocore's SageMaker model file, found without importing botocore: importing its loader
    costs about 0.3 s, reading the file 0.1 s, and the offline commands (`dtrain local`,
    validate, estimate) need only the file. None where botocore's loader could pick another file
    (AWS_DATA_PATH, ~/.aws/models: its search path before its own data) or finds none."""
    if os.environ.get("AWS_DATA_PATH") or (Path.home() / ".aws" / "models" / "sagemaker").exists():
        return None
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return None
    service = Path(next(iter(spec.submodule_search_locations))) / "data" / "sagemaker"
    # botocore's loader takes the newest API version's folder (its names are dates).
    versions = sorted(p for p in service.iterdir() if p.is_dir()) if service.is_dir() else []
    for name in ("service-2.json.gz", "service-2.json"):
        if versions and (versions[-1] / name).is_file():
            return versions[-1] / name
    return None


@functools.lru_cache(maxsize=1)
def _model() -> Mapping[str, Any]:
    boto3 = sys.modules.get("boto3")
    path = None if getattr(boto3, "DEFAULT_SESSION", None) else _model_file()
    if path is not None:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        parsed: Mapping[str, Any] = json.loads(data)
        return parsed
    model: Mapping[str, Any] = _loader().load_service_model("sagemaker", "service-2")
    return model


def shapes() -> Mapping[str, Any]:
    shape_map: Mapping[str, Any] = _model()["shapes"]
    return shape_map


def input_shape_name(operation: str = OPERATION) -> str:
    name: str = _model()["operations"][operation]["input"]["shape"]
    return name


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    translated = translate_java_pattern(pattern)
    if translated is None:
        _untranslatable.add(pattern)
        return None
    return re.compile(translated)


def untranslatable_patterns() -> frozenset[str]:
    return frozenset(_untranslatable)


def enum_values(shape_name: str) -> tuple[str, ...]:
    """The enum of a string shape (e.g. TrainingInstanceType)."""
    return tuple(shapes()[shape_name].get("enum", ()))


def _problems(value: object, shape_name: str, path: str, out: list[SpecError]) -> None:
    shape = shapes()[shape_name]
    kind = shape["type"]
    check = _BY_KIND.get(kind)
    if check is None:
        # timestamp / blob: never built by dtrain; refuse rather than pass unchecked.
        out.append(SpecError(path, value, f"dtrain does not build {kind} members ({shape_name})"))
        return
    check(value, shape, shape_name, path, out)


def _structure_problems(
    value: object, shape: Mapping[str, Any], shape_name: str, path: str, out: list[SpecError]
) -> None:
    if not isinstance(value, Mapping):
        out.append(SpecError(path, value, f"must be an object ({shape_name})"))
        return
    members: Mapping[str, Any] = shape.get("members", {})
    for key in shape.get("required", ()):
        if key not in value:
            out.append(SpecError(f"{path}.{key}", None, f"required by {shape_name}"))
    for key, item in value.items():
        if key not in members:
            out.append(SpecError(f"{path}.{key}", item, f"not a member of {shape_name}"))
        else:
            _problems(item, members[key]["shape"], f"{path}.{key}", out)
    if shape.get("union") and len(value) != 1:
        out.append(SpecError(path, sorted(value), f"{shape_name} takes exactly one member"))


def _list_problems(
    value: object, shape: Mapping[str, Any], shape_name: str, path: str, out: list[SpecError]
) -> None:
    if not isinstance(value, list):
        out.append(SpecError(path, value, f"must be a list ({shape_name})"))
        return
    _check_size(len(value), shape, path, value, "items", out)
    for i, item in enumerate(value):
        _problems(item, shape["member"]["shape"], f"{path}[{i}]", out)


def _map_problems(
    value: object, shape: Mapping[str, Any], shape_name: str, path: str, out: list[SpecError]
) -> None:
    if not isinstance(value, Mapping):
        out.append(SpecError(path, value, f"must be an object ({shape_name})"))
        return
    _check_size(len(value), shape, path, value, "entries", out)
    for key, item in value.items():
        _problems(key, shape["key"]["shape"], f"{path}{{key {key!r}}}", out)
        _problems(item, shape["value"]["shape"], f"{path}.{key}", out)


def _string_problems(
    value: object, shape: Mapping[str, Any], shape_name: str, path: str, out: list[SpecError]
) -> None:
    if not isinstance(value, str):
        out.append(SpecError(path, value, f"must be a string ({shape_name})"))
        return
    _check_size(len(value), shape, path, value, "characters", out)
    enum = shape.get("enum")
    if enum and value not in enum:
        out.append(SpecError(path, value, f"not one of the {len(enum)} values of {shape_name}"))
    pattern = shape.get("pattern")
    if pattern is not None:
        compiled = _compiled(pattern)
        if compiled is not None and compiled.fullmatch(value) is None:
            out.append(SpecError(path, value, f"does not match {shape_name}'s pattern {pattern}"))


def _integer_problems(
    value: object, shape: Mapping[str, Any], shape_name: str, path: str, out: list[SpecError]
) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out.append(SpecError(path, value, f"must be an integer ({shape_name})"))
        return
    _check_range(value, shape, path, out)


def _number_problems(
    value: object, shape: Mapping[str, Any], shape_name: str, path: str, out: list[SpecError]
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        out.append(SpecError(path, value, f"must be a number ({shape_name})"))
        return
    _check_range(value, shape, path, out)


def _boolean_problems(
    value: object, shape: Mapping[str, Any], shape_name: str, path: str, out: list[SpecError]
) -> None:
    if not isinstance(value, bool):
        out.append(SpecError(path, value, f"must be true or false ({shape_name})"))


# botocore's shape types -> the check of a value against a shape of that type.
_BY_KIND: dict[str, Callable[[object, Mapping[str, Any], str, str, list[SpecError]], None]] = {
    "structure": _structure_problems,
    "list": _list_problems,
    "map": _map_problems,
    "string": _string_problems,
    "integer": _integer_problems,
    "long": _integer_problems,
    "float": _number_problems,
    "double": _number_problems,
    "boolean": _boolean_problems,
}


def _check_size(
    size: int, shape: Mapping[str, Any], path: str, value: object, unit: str, out: list[SpecError]
) -> None:
    lo, hi = shape.get("min"), shape.get("max")
    if lo is not None and size < lo:
        out.append(SpecError(path, value, f"fewer than {lo} {unit}"))
    if hi is not None and size > hi:
        out.append(SpecError(path, value, f"more than {hi} {unit}"))


def _check_range(value: float, shape: Mapping[str, Any], path: str, out: list[SpecError]) -> None:
    lo, hi = shape.get("min"), shape.get("max")
    if lo is not None and value < lo:
        out.append(SpecError(path, value, f"less than the minimum {lo}"))
    if hi is not None and value > hi:
        out.append(SpecError(path, value, f"more than the maximum {hi}"))


def request_problems(request: Mapping[str, Any], operation: str = OPERATION) -> list[SpecError]:
    out: list[SpecError] = []
    _problems(request, input_shape_name(operation), "request", out)
    return out


def validate_create_training_job(request: Mapping[str, Any]) -> None:
    """Raise RequestValidationError listing every model violation, then the service-side rules'
    refusals (dtrain.jobspec.service_rules, SpecError/SpecErrors naming spec fields); None when valid."""
    problems = request_problems(request)
    if problems:
        raise RequestValidationError(problems)

    check_service_rules(request)


def validate_create_processing_job(request: Mapping[str, Any]) -> None:
    """Raise RequestValidationError listing every CreateProcessingJob model violation."""
    problems = request_problems(request, "CreateProcessingJob")
    if problems:
        raise RequestValidationError(problems)
