"""The payloads the state machine hands its Lambda tasks: one typed class per kind of task state.

The one source for each payload's fields, their types and which are optional:

- the stack builds each task state's input from these classes (dtrain.constructs
  .orchestration.payloads binds every field to a JsonPath, and refuses a field a class lacks or
  a required field left unbound), and tests/stacks/test_task_payloads.py checks the synthesized
  state machine against them;
- the Submit and Finalize Lambdas parse their event into them (parse_submit_event,
  parse_finalize_event): one parse per kind, refusing a missing or wrongly typed field with
  InvalidEvent, which names the field and the phase or mode.

A field with a default may be absent (or null) in the event; the default stands for it, as the
Lambdas read it before these classes (`event.get(key) or default`). The fields' order is the
order of the keys in the synthesized payload. No CDK here: the Lambdas import this module.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True, kw_only=True)
class Payload:
    """A task state's payload; `KEY` names the field that picks the class (phase or mode)."""

    KEY: ClassVar[str]
    LAMBDA: ClassVar[str]  # the Lambda (lambda/<LAMBDA>/handler.py) the payload is sent to

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
        where = f"{cls.LAMBDA} payload ({cls.KEY} {event.get(cls.KEY)!r})"
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = event.get(f.name)
            if value is None:
                if f.name in cls.required():
                    raise InvalidEvent(f"{where} lacks the field {f.name!r}")
                continue  # the default stands for an absent or null field
            expected = _hints(cls)[f.name]
            if not _is_instance(value, expected):
                raise InvalidEvent(
                    f"{where}: {f.name!r} is {_value_name(value)}, expected {_type_name(expected)}"
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


@dataclass(frozen=True, kw_only=True)
class PreparePayload(Payload):
    """Submit's `prepare` phase: the execution input is the spec; it returns the plan."""

    KEY = "phase"
    LAMBDA = "submit_job"

    phase: str
    # The execution input as the user sent it: Prepare judges it (InvalidEvent if not an object,
    # else the spec's errors in plain words).
    spec: Any = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SubmitPayload(Payload):
    """Submit's `process` and `submit` phases: create the job, then wait for its callback."""

    KEY = "phase"
    LAMBDA = "submit_job"

    phase: str
    spec: Mapping[str, Any]
    task_token: str
    execution_arn: str
    execution_name: str
    retry_count: int = 0
    # No redrive count: every failure is caught and ends in the Fail state, so a redrive
    # would restart at that Fail state and never reach Submit again.
    execution_start: str = ""  # $$.Execution.StartTime: tells apart two executions of one name
    # `submit` only: the Process step's callback output (its job's name: training reads its
    # outputs), or null without a processing step.
    processing: Mapping[str, Any] | None = None
    # A sweep item's: its index and overrides.
    item_index: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    is_sweep_item: bool = False


@dataclass(frozen=True, kw_only=True)
class HostingPayload(Payload):
    """Submit's hosting phases (`model`, `deploy`, `transform`; dtrain.orchestration.hosting)."""

    KEY = "phase"
    LAMBDA = "submit_job"

    phase: str
    spec: Mapping[str, Any]
    training: Mapping[str, Any] = field(default_factory=dict)  # Finalize's result
    execution_arn: str
    execution_name: str
    execution_start: str = ""
    model: Mapping[str, Any] = field(default_factory=dict)  # the model phase's output
    task_token: str = ""  # deploy and transform wait for the state-change callback


@dataclass(frozen=True, kw_only=True)
class FailurePayload(Payload):
    """Finalize's `failure` mode: the caught error in plain words, and the notification."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    error: Mapping[str, Any] = field(default_factory=dict)
    execution_arn: str = ""
    execution_name: str = ""


@dataclass(frozen=True, kw_only=True)
class FinalizeJobPayload(Payload):
    """Finalize's `job` mode: one training job's result."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    job_name: str
    execution_arn: str = ""


@dataclass(frozen=True, kw_only=True)
class ItemResultPayload(Payload):
    """Finalize's `item` mode: a sweep item's slim result row."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    job_name: str
    index: int = 0
    objective_metric: str = ""


@dataclass(frozen=True, kw_only=True)
class RankSweepPayload(Payload):
    """Finalize's `sweep` mode: the ranked rows and the next state."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    results: list[Any] = field(default_factory=list)
    plan: Mapping[str, Any] = field(default_factory=dict)  # Prepare's plan (less its items' rows)
    execution_arn: str = ""


@dataclass(frozen=True, kw_only=True)
class FinalizeHostingPayload(Payload):
    """Finalize's `hosting` mode: the endpoint's or transform job's result."""

    KEY = "mode"
    LAMBDA = "finalize"

    mode: str
    kind: str = ""  # the plan's hosting kind: deploy or transform
    training: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    hosting: Mapping[str, Any] = field(default_factory=dict)
    execution_arn: str = ""


SubmitEvent = PreparePayload | SubmitPayload | HostingPayload
FinalizeEvent = (
    FailurePayload | FinalizeJobPayload | ItemResultPayload | RankSweepPayload | FinalizeHostingPayload
)

# Which class each phase (Submit) or mode (Finalize) is: the Lambdas dispatch on it, the stack
# binds a phase or mode only to its class.
SUBMIT_PHASES: dict[str, type[SubmitEvent]] = {
    "prepare": PreparePayload,
    "process": SubmitPayload,  # the spec's processing job, before training
    "submit": SubmitPayload,
    "model": HostingPayload,
    "deploy": HostingPayload,
    "transform": HostingPayload,
}
FINALIZE_MODES: dict[str, type[FinalizeEvent]] = {
    "job": FinalizeJobPayload,
    "item": ItemResultPayload,
    "failure": FailurePayload,
    "sweep": RankSweepPayload,
    "hosting": FinalizeHostingPayload,
}
# Per Lambda: the key that picks the class, and the classes by its value.
BY_LAMBDA: dict[str, tuple[str, Mapping[str, type[Payload]]]] = {
    "submit_job": ("phase", SUBMIT_PHASES),
    "finalize": ("mode", FINALIZE_MODES),
}


def parse_submit_event(event: Mapping[str, Any]) -> SubmitEvent:
    return typing.cast(SubmitEvent, _parse("submit_job", event))


def parse_finalize_event(event: Mapping[str, Any]) -> FinalizeEvent:
    return typing.cast(FinalizeEvent, _parse("finalize", event))


def _parse(lambda_name: str, event: Mapping[str, Any]) -> Payload:
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"{lambda_name} event is {type(event).__name__}, expected an object")
    key, classes = BY_LAMBDA[lambda_name]
    value = event.get(key)
    kind = classes.get(value) if isinstance(value, str) else None
    if kind is None:
        raise InvalidEvent(f"unknown {key} {value!r}; expected {', '.join(classes)}")
    return kind.parse(event)


_HINTS: dict[type[Payload], dict[str, Any]] = {}


def _hints(cls: type[Payload]) -> dict[str, Any]:
    """The class's field types, resolved once (its annotations are strings)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _is_instance(value: Any, expected: Any) -> bool:
    if expected is Any:
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, arg) for arg in typing.get_args(expected))
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
