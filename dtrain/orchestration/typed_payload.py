"""The base of the Lambdas' typed payloads (dtrain.orchestration.payloads): a dataclass whose
fields are read from an event, each checked against its type, and a refusal that names the field.

Types a field may have: str, int, bool, Mapping[...], list[...], Any, and unions with None; the
refusal says them as JSON does (a string, an integer, an object, an array, null).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from dtrain.orchestration.errors import InvalidEvent

P = TypeVar("P", bound="Payload")
# The fields that are log correlation keys, by the key's name (a sweep item's `index` is its
# `item_index`).
_CORRELATION_KEYS = {
    "execution_name": "execution_name",
    "job_name": "job_name",
    "item_index": "item_index",
    "index": "item_index",
}


@dataclass(kw_only=True)
class Payload:
    """A task state's payload; `KEY` names the field that picks the class (phase or mode)."""

    KEY: ClassVar[str]
    LAMBDA: ClassVar[str]  # the Lambda (lambda/<LAMBDA>/handler.py) the payload is sent to
    NOUN: ClassVar[str] = "payload"  # in messages: "payload" (the state machine's) or "event"
    # Where a field is read when not from the event's key of its name: a path of keys (an
    # EventBridge event's `detail-type`, or a key inside its `detail`).
    PATHS: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    @classmethod
    def required(cls) -> tuple[str, ...]:
        """The fields the event must carry (no default)."""
        missing = dataclasses.MISSING
        return tuple(
            f.name for f in dataclasses.fields(cls) if f.default is missing and f.default_factory is missing
        )

    @classmethod
    def parse(cls: type[P], event: Mapping[str, Any]) -> P:
        """The event as this class, each field checked against its type."""
        where = f"{cls.LAMBDA} {cls.NOUN} ({cls.KEY} {event.get(cls.KEY)!r})"
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            path = cls.PATHS.get(f.name, (f.name,))
            value = _lookup(event, path)
            if value is None:
                if f.name in cls.required():
                    raise InvalidEvent(f"{where} lacks the field {'.'.join(path)!r}")
                continue  # the default stands for an absent or null field
            expected = field_types(cls)[f.name]
            if not is_instance(value, expected):
                raise InvalidEvent(
                    f"{where}: {'.'.join(path)!r} is {_value_name(value)}, expected {_type_name(expected)}"
                )
            values[f.name] = value
        return cls(**values)

    def correlation(self) -> dict[str, Any]:
        """The log correlation keys this payload carries (dtrain.orchestration.observability)."""
        return {
            _CORRELATION_KEYS[f.name]: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name in _CORRELATION_KEYS
        }


def _lookup(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = event
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


_HINTS: dict[type[Payload], dict[str, Any]] = {}


def field_types(cls: type[Payload]) -> dict[str, Any]:
    """The class's field types, resolved once (its annotations are strings)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def is_instance(value: Any, expected: Any) -> bool:
    if expected is Any:
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(is_instance(value, arg) for arg in typing.get_args(expected))
    if origin is not None:
        expected = origin  # Mapping[str, Any] -> Mapping, list[Any] -> list
    if expected is int:  # JSON has no int apart from bool, Python has: true is no index
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


# The JSON names of the fields' types, for the refusal's message.
_JSON_NAMES: dict[Any, str] = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    Mapping: "an object",
    list: "an array",
    float: "a number",
    type(None): "null",
}


def _type_name(expected: Any) -> str:
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(expected))
    return _JSON_NAMES.get(typing.get_origin(expected) or expected, str(expected))


def _value_name(value: Any) -> str:
    kind = next((t for t in _JSON_NAMES if t is not int and isinstance(value, t)), None)
    return _JSON_NAMES.get(kind or type(value), type(value).__name__)
