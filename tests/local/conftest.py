"""Shared fixtures for the local-mode tests: tiny CIFAR-10 data made once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.commands.data_cmd import make_cifar10_sample
from tests.example_runs import ExampleRuns


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cifar10-sample")
    make_cifar10_sample(directory, train=128, test=32)
    return directory


@pytest.fixture(scope="session")
def tfrecord_dir(example_runs: ExampleRuns) -> Path:
    """The Keras trainer reads TFRecords; TensorFlow lives in the Horovod virtualenv. The session's
    (tests/example_runs.py): the TFRecords the shared runs of the TF examples trained on."""
    return example_runs.tfrecords()


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "work"
