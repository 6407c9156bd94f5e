"""Execution names: Step Functions counts characters (1-80), not pattern groups."""

from __future__ import annotations

import pytest

from dtrain.remote.errors import UsageError
from dtrain.remote.execution_names import MAX_EXECUTION_NAME, check_execution_name


def test_an_80_character_name_passes() -> None:
    name = "a" * MAX_EXECUTION_NAME
    assert check_execution_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "a" * 81,
        # 61 groups of "a-" + "a": the old `(-*[A-Za-z0-9]){0,79}` counted 60 groups and let
        # this 121-character name through; StartExecution refuses it.
        "a-" * 60 + "a",
        "a--" * 30 + "a",
    ],
)
def test_names_over_80_characters_are_refused(name: str) -> None:
    assert len(name) > MAX_EXECUTION_NAME
    with pytest.raises(UsageError, match="1-80"):
        check_execution_name(name)


def test_hyphenated_name_of_exactly_80_characters_passes() -> None:
    name = "a-" * 39 + "ab"
    assert len(name) == 80
    assert check_execution_name(name) == name
