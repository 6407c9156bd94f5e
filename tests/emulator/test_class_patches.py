"""class_patches restores each class as it found it: its own attributes, inherited ones, absent ones."""

from __future__ import annotations

import pytest

from dtrain.emulator.class_patches import class_patches


class Base:
    inherited = "base"


class Owner(Base):
    own = "owner"


def test_patches_are_undone_on_leaving_the_block() -> None:
    with class_patches() as patch:
        patch(Owner, "own", "patched")
        patch(Owner, "inherited", "patched")
        patch(Owner, "absent", "patched")
        patch(Owner, "own", "patched twice")
        assert (Owner.own, Owner.inherited, Owner.absent) == ("patched twice", "patched", "patched")
    assert Owner.own == "owner"
    assert "inherited" not in Owner.__dict__ and Owner.inherited == "base"
    assert not hasattr(Owner, "absent")


def test_patches_are_undone_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), class_patches() as patch:
        patch(Owner, "own", "patched")
        raise RuntimeError("the block failed")
    assert Owner.own == "owner"
