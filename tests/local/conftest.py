"""Shared fixtures for the local-mode tests: tiny CIFAR-10 data made once per session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.commands.data_cmd import make_cifar10_sample
from dtrain.local.config import repo_root, training_code_dir

REPO = repo_root()
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cifar10-sample")
    make_cifar10_sample(directory, train=128, test=32)
    return directory


@pytest.fixture(scope="session")
def tfrecord_dir(cifar_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Keras trainer reads TFRecords; TensorFlow lives in the Horovod virtualenv."""
    assert HVD_PYTHON.exists(), f"{HVD_PYTHON} missing: run make setup (scripts/setup_horovod.sh)"
    directory = tmp_path_factory.mktemp("cifar10-tfrecords")
    script = training_code_dir() / "data" / "prepare_cifar10.py"
    subprocess.run([str(HVD_PYTHON), str(script), "tfrecord", str(cifar_dir), str(directory)], check=True)
    return directory


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "work"
