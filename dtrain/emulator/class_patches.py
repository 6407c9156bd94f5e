"""Attributes set on moto's and boto's classes for the length of a block, then put back.

The emulator's shims (hosting, the lifecycle gate) change those classes in place: each records
what it replaces, so that leaving the block restores the class exactly, an attribute the class
did not define itself (inherited, or absent) included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Patch = Callable[[Any, str, Any], None]

# What a class's own __dict__ held before a patch when it held nothing: the attribute is deleted
# again, so the inherited one (or none) shows through as before.
_MISSING = object()


@contextmanager
def class_patches() -> Iterator[Patch]:
    """Yield ``patch(owner, name, value)``; every attribute it set is restored, newest first."""
    saved: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        saved.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, value)

    try:
        yield patch
    finally:
        for owner, name, value in reversed(saved):
            if value is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
