"""Puts the inference code into the model directory, so model.tar.gz carries it in ``code/``.

SageMaker's PyTorch inference container runs ``code/inference.py`` of the model archive
(SageMaker Python SDK docs, "Deploy PyTorch Models": "Model Directory Structure"), importing it
with ``code/`` on its path; the model class it rebuilds comes along as ``code/cifar_model.py``.
Called by rank 0 right after the model is saved.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
# source file in training_code/common -> name in model_dir/code
INFERENCE_FILES = {"cifar_inference.py": "inference.py", "cifar_model.py": "cifar_model.py"}


def package_inference_code(model_dir: Path) -> Path:
    code_dir = model_dir / "code"
    code_dir.mkdir(parents=True, exist_ok=True)
    for source, name in INFERENCE_FILES.items():
        shutil.copyfile(HERE / source, code_dir / name)
    return code_dir
