"""bounded_int: the integer argument type dtrain local, serve and emulate share."""

from __future__ import annotations

import argparse

import pytest

from dtrain.commands import bounded_int


def test_a_value_within_the_bounds_is_taken() -> None:
    assert bounded_int(1, 3)("3") == 3
    assert bounded_int(1)("100000") == 100000


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (bounded_int(1, 3), "x", "'x': not an integer"),
        (bounded_int(1, 3), "4", "4: must be 1..3"),
        (bounded_int(1), "0", "0: must be at least 1"),
        (bounded_int(1, 9, noun="a port number", rule="a port is 1..9"), "1.5", "'1.5': not a port number"),
        (bounded_int(1, 9, noun="a port number", rule="a port is 1..9"), "0", "0: a port is 1..9"),
    ],
)
def test_a_value_out_of_bounds_is_refused_with_its_rule(parse: object, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)  # type: ignore[operator]
    assert str(refused.value) == message
