"""No Node.js version banner from jsii on the project's commands (dtrain.node_banners)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dtrain.cli import main
from dtrain.node_banners import QUIET_NODE_ENV, quiet_node_banners

ROOT = Path(__file__).resolve().parents[2]


def _env_without_silencers() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSII_SILENCE_WARNING_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_a_value_the_user_set_is_kept() -> None:
    environ = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": ""}
    quiet_node_banners(environ)
    assert environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] == ""
    assert environ["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] == "1"


def test_every_dtrain_command_passes_the_silencers_to_what_it_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in QUIET_NODE_ENV:
        monkeypatch.delenv(name, raising=False)
    main(["schema"])
    capsys.readouterr()
    assert {name: os.environ.get(name) for name in QUIET_NODE_ENV} == QUIET_NODE_ENV


def test_the_cdk_app_starts_jsii_without_a_node_banner() -> None:
    """Imports app.py (as `cdk synth|deploy` runs it), which starts jsii's kernel: ~5 s."""
    env = _env_without_silencers()
    run = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "end-of-life" not in run.stderr and "Node " not in run.stderr, run.stderr
