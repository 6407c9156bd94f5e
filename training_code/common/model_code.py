"""Puts the inference code into the model directory, so model.tar.gz carries it in ``code/``.

SageMaker's PyTorch inference container runs ``code/inference.py`` of the model archive
(SageMaker Python SDK docs, "Deploy PyTorch Models": "Model Directory Structure"), importing it
with ``code/`` on its path; the model class it rebuilds comes along as ``code/cifar_model.py``.
Its TensorFlow Serving container runs the ``input_handler`` / ``output_handler`` of
``code/inference.py`` around TF Serving (the container's README, "Pre/Post-Processing").
Called by the saving rank right after the model is saved.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
# source file in training_code/common -> name in model_dir/code
TORCH_INFERENCE_FILES = {"cifar_inference.py": "inference.py", "cifar_model.py": "cifar_model.py"}
KERAS_INFERENCE_FILES = {"keras_inference.py": "inference.py"}


def _copy(model_dir: Path, files: dict[str, str]) -> Path:
    code_dir = model_dir / "code"
    code_dir.mkdir(parents=True, exist_ok=True)
    for source, name in files.items():
        shutil.copyfile(HERE / source, code_dir / name)
    return code_dir


def package_inference_code(model_dir: Path) -> Path:
    """code/ for the PyTorch CIFAR-10 model (model.pt + model_config.json)."""
    return _copy(model_dir, TORCH_INFERENCE_FILES)


def package_keras_inference_code(model_dir: Path, mean: Sequence[float], std: Sequence[float]) -> Path:
    """code/ for the Keras SavedModel; mean/std are the trainer's input normalisation (0-255 scale)."""
    code_dir = _copy(model_dir, KERAS_INFERENCE_FILES)
    normalization = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
    (code_dir / "normalization.json").write_text(json.dumps(normalization) + "\n")
    return code_dir
