"""Where a TensorFlow model archive keeps its SavedModels, found as SageMaker's TF Serving image finds them.

The image's `serve.py` (aws/deep-learning-containers tensorflow/inference/docker/build_artifacts/
sagemaker/serve.py, `_create_tfs_config`, with tfs_utils.find_models / find_model_versions) walks
/opt/ml/model for every `saved_model.pb` whose folder is a number: that folder is a version, its
parent a model named after the parent's base name (`/opt/ml/model/1/saved_model.pb` is version 1
of model "model"; `/opt/ml/model/resnet/7/saved_model.pb` version 7 of "resnet"), and every
version found is served. TF Serving itself serves only numeric version folders under a model's
base path (tensorflow.org/tfx/serving/serving_basic): a saved_model.pb at the model's root is no
version, and the image answers "no SavedModel bundles found!".

Standard library only: the CLI (framework detection) and the serving environment's launcher
(Python 3.10, the TF Serving image's) both read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SAVED_MODEL_FILE = "saved_model.pb"


class UnversionedSavedModelError(FileNotFoundError):
    """saved_model.pb at the model's root: TF Serving serves only numeric version directories."""


@dataclass(frozen=True)
class ServableModel:
    """One model TF Serving serves: its name, its base path, its numeric versions (ascending)."""

    name: str
    base_path: Path
    versions: tuple[int, ...]


def _saved_model_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        if SAVED_MODEL_FILE in filenames:
            found.append(Path(dirpath) / SAVED_MODEL_FILE)
    return found


def find_models(model_dir: Path) -> list[ServableModel]:
    """Every model under `model_dir` with a numeric version folder holding saved_model.pb; the
    first is the default model (the image takes the first it finds as TFS_DEFAULT_MODEL_NAME).
    `code/` is the handlers' folder, never a model."""
    model_dir = Path(model_dir)
    versions: dict[Path, set[int]] = {}
    for found in _saved_model_files(model_dir):
        version_dir = found.parent
        relative = version_dir.relative_to(model_dir)
        if not version_dir.name.isdigit() or relative.parts[:1] == ("code",):
            continue
        versions.setdefault(version_dir.parent, set()).add(int(version_dir.name))
    return [
        ServableModel(name=base.name, base_path=base, versions=tuple(sorted(found)))
        for base, found in versions.items()
    ]


def servable_models(model_dir: Path) -> list[ServableModel]:
    """find_models, or the error the image's serve.py would stop with, worded for a person."""
    models = find_models(model_dir)
    if models:
        return models
    if (Path(model_dir) / SAVED_MODEL_FILE).is_file():
        raise UnversionedSavedModelError(
            f"{Path(model_dir) / SAVED_MODEL_FILE}: TF Serving serves a SavedModel only from a numeric "
            f"version directory (<model>/1/{SAVED_MODEL_FILE}); save it under {model_dir}/1"
        )
    raise FileNotFoundError(f"no SavedModel under {model_dir} (expected <version>/{SAVED_MODEL_FILE})")


def has_saved_model(model_dir: Path) -> bool:
    """A SavedModel anywhere TF Serving would look, or at the root (TensorFlow's, refused at start)."""
    return (Path(model_dir) / SAVED_MODEL_FILE).is_file() or bool(find_models(model_dir))
