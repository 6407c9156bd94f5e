"""The team's own test set-up: its app module beside tests/, synthesized once for every test."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))  # what `cdk synth` has: the app's folder on the path


@pytest.fixture(scope="session")
def team_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ml_platform import build, cdk_json_context

    built = build(cdk_json_context(), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    built.app.synth()
    return built
