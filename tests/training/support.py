"""Helpers of the training-code tests that module-level functions need (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], what: str, limit: float = 240.0) -> Any:
    """`predicate()`'s first truthy value, polled every 50 ms; AssertionError after `limit` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
