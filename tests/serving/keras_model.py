"""The Keras trainers' network as a SavedModel, made once per test session and shared by the files
that serve it (tests/serving/test_tf_serving_format.py, tests/emulator/test_hosting.py's transform
job): each saved one of its own before, a TensorFlow start and a save (~5 CPU-s) each.

Saved as the trainers save it (training_code/horovod/keras_cifar.build_model,
`model.save(model_dir / "1", save_format="tf")`) by TensorFlow in the Horovod virtualenv, in
`<root>/keras`:
- model/1 and model/2: the SavedModel, twice (the REST API serves the highest version unless one
  is named);
- packaged/: version 1 with the trainers' code/inference.py handlers (their packaging);
- x.npy and logits.npy: three float inputs and the model's logits for them; input_name: the
  serving signature's input;
- images.npy and probabilities.npy: five uint8 images and what the packaged model must answer.
The first caller, on any xdist worker, saves it under a lock; the others wait and read it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from dtrain.local.config import repo_root, training_code_dir
from tests.made_once import made_once

HVD_PYTHON = repo_root() / ".venv-hvd" / "bin" / "python"

SAVE_MODEL = """
import json, sys
from pathlib import Path
sys.path[:0] = [sys.argv[2] + "/horovod", sys.argv[2]]
import numpy as np
import tensorflow as tf
from keras_cifar import build_model

out = Path(sys.argv[1])
tf.keras.utils.set_random_seed(0)
model = build_model(width=8, weight_decay=0.0)
model.save(out / "model" / "1", save_format="tf")
x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
np.save(out / "x.npy", x)
np.save(out / "logits.npy", model(x, training=False).numpy())
# The serving signature's input, read from saved_model.pb (loading the model to ask it costs ~1.5 CPU-s).
from tensorflow.core.protobuf import saved_model_pb2
saved = saved_model_pb2.SavedModel.FromString((out / "model" / "1" / "saved_model.pb").read_bytes())
(out / "input_name").write_text(next(iter(saved.meta_graphs[0].signature_def["serving_default"].inputs)))

# The trainers' packaging (train_hvd_keras / train_tf_keras, right after model.save), and what the
# packaged model must answer for uint8 images: softmax of the logits of the trainer's normalisation.
import shutil
from common.model_code import package_keras_inference_code
from keras_cifar import CIFAR_MEAN, CIFAR_STD, _normalise
shutil.copytree(out / "model", out / "packaged")
package_keras_inference_code(out / "packaged", CIFAR_MEAN, CIFAR_STD)
images = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
np.save(out / "images.npy", images)
np.save(out / "probabilities.npy", tf.nn.softmax(model(_normalise(images), training=False)).numpy())
"""


def keras_saved_model(root: Path) -> Path:
    """`<root>/keras`, saved by the first caller of the session (tests/made_once.py)."""
    assert HVD_PYTHON.exists(), f"{HVD_PYTHON} missing: make setup builds it"

    def save(out: Path) -> None:
        subprocess.run(
            [str(HVD_PYTHON), "-c", SAVE_MODEL, str(out), str(training_code_dir())],
            check=True,
            env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
        )
        shutil.copytree(out / "model" / "1", out / "model" / "2")

    return made_once(root, "keras", save)
