"""Errors as types: every refusal names the field, the value and the rule.

A spec that cannot become a valid CreateTrainingJob request is refused before any AWS
call. One `SpecError` is one broken rule; `SpecErrors` carries every error found in one
pass over the spec, so a user fixes them all at once instead of one per run.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Iterator

_MAX_VALUE_CHARS = 120
# reprlib cuts while it formats: a huge or deeply shared value (a YAML alias bomb) is never
# formatted whole just to be cut afterwards.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 6
_REPR.maxstring = _REPR.maxother = _MAX_VALUE_CHARS
_REPR.maxlong = 40


def _short_repr(value: object) -> str:
    """repr() of the offending value, cut so that one error stays one readable line."""
    text = _REPR.repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    # A value with a newline would break the one-error-per-line output of `dtrain validate`.
    return text.replace("\n", "\\n")


class SpecError(Exception):
    """One broken rule: `field` is a dotted path into the spec (`estimator.max_wait`)."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}: {_short_repr(value)}: {rule}")

    def __reduce__(self) -> tuple[type[SpecError], tuple[str, object, str]]:
        return (type(self), (self.field, self.value, self.rule))


class SpecErrors(Exception):
    """Every error found in one pass; `str()` is one error per line."""

    def __init__(self, errors: Iterable[SpecError]) -> None:
        self.errors: list[SpecError] = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    def __iter__(self) -> Iterator[SpecError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def __reduce__(self) -> tuple[type[SpecErrors], tuple[list[SpecError]]]:
        return (type(self), (self.errors,))


class RequestValidationError(SpecErrors):
    """The built request broke a constraint of botocore's SageMaker service model.

    The spec checks are meant to refuse such specs first, with a field of the spec; this
    error reaching a user means the builder has a gap (the property tests hunt for it).
    Fields here are request paths (`request.ResourceConfig.InstanceType`).
    """


class ErrorCollector:
    """Gathers errors during a pass so that all of them are reported together."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    def add(self, field: str, value: object, rule: str) -> None:
        self.errors.append(SpecError(field, value, rule))

    def extend(self, errors: Iterable[SpecError]) -> None:
        self.errors.extend(errors)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        """Raise the single error as itself, several as `SpecErrors`."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SpecErrors(self.errors)


def as_error_list(exc: SpecError | SpecErrors) -> list[SpecError]:
    """Both error types as a flat list, for printers and tests."""
    if isinstance(exc, SpecErrors):
        return list(exc.errors)
    return [exc]
