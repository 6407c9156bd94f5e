"""The bundled trainer's model.tar.gz carries the inference code SageMaker's PyTorch container runs."""

from __future__ import annotations

import tarfile
from pathlib import Path

from dtrain.local.config import training_code_dir


def test_trainer_archive_has_model_and_inference_code(trained_archive: Path) -> None:
    with tarfile.open(trained_archive) as tar:
        names = set(tar.getnames())
    assert {"model.pt", "model_config.json", "code/inference.py", "code/cifar_model.py"} <= names


def test_archive_inference_code_is_the_trainers(trained_model_dir: Path) -> None:
    common = training_code_dir() / "common"
    code = trained_model_dir / "code"
    assert (code / "inference.py").read_text() == (common / "cifar_inference.py").read_text()
    assert (code / "cifar_model.py").read_text() == (common / "cifar_model.py").read_text()
