"""Fixtures for the serving tests: a model.tar.gz from the real trainer, and small model folders.

The trained model comes from `dtrain local` running the packaged DDP trainer (examples/
ddp_torchrun.json, one host, a few steps on the tiny CIFAR-10 sample), so its archive is what a
SageMaker training job of the bundled trainer leaves: model.pt, model_config.json, code/.
"""

from __future__ import annotations

import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.cli import main
from dtrain.commands.data_cmd import make_cifar10_sample
from dtrain.local.config import repo_root, training_code_dir
from dtrain.serving import ServerHandle, start_server

REPO = repo_root()
TINY_HPS = ["epochs=1", "batch_size=16", "width=4", "max_steps=3"]

# The trainer's model class, importable here to compute what the server should answer.
if str(training_code_dir()) not in sys.path:
    sys.path.insert(0, str(training_code_dir()))


@pytest.fixture(scope="session")
def cifar_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cifar10-sample")
    make_cifar10_sample(directory, train=64, test=32)
    return directory


@pytest.fixture(scope="session")
def trained_archive(cifar_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.tar.gz of the packaged DDP trainer, trained through `dtrain local`."""
    workdir = tmp_path_factory.mktemp("train")
    args = ["local", str(REPO / "examples" / "ddp_torchrun.json"), "--workdir", str(workdir), "--no-live"]
    args += ["--hosts", "1", "--data", f"train={cifar_sample}", "--data", f"test={cifar_sample}"]
    for hp in TINY_HPS:
        args += ["--set", hp]
    assert main(args) == 0
    (archive,) = (workdir / "jobs").glob("*/output/model.tar.gz")
    return archive


@pytest.fixture(scope="session")
def trained_model_dir(trained_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    with tarfile.open(trained_archive) as tar:
        tar.extractall(directory, filter="data")
    return directory


@pytest.fixture(scope="session")
def trained_server(trained_model_dir: Path) -> Iterator[ServerHandle]:
    """The trained model behind TorchServe (SageMaker's PyTorch toolkit) with one worker, on a free
    port: one server for the session's tests (a JVM start costs seconds)."""
    with start_server(trained_model_dir, port=0, workers=1) as handle:
        yield handle
