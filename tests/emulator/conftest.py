"""Fixtures shared by the emulator's tests."""

from __future__ import annotations

import pytest

FAKE_REGION = "us-east-1"


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region for boto3 clients against moto or the emulator: never a real
    account's (moto answers every call in-process)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": FAKE_REGION,
    }.items():
        monkeypatch.setenv(name, value)
