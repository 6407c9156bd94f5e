"""train_hvd_keras.py as the horovod image runs it: two Horovod workers over Open MPI on tiny
TFRecords, in the .venv-hvd virtualenv that `make test` builds (scripts/setup_horovod.sh)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.horovod]

METRIC = re.compile(
    r"^epoch=(\d+) step=(\d+) train_loss=([0-9.]+) val_acc=([0-9.]+) samples_per_sec=\d+$", re.M
)


@pytest.fixture(scope="session")
def hvd_python(harness: SimpleNamespace) -> Path:
    python: Path = harness.hvd_python
    if not python.exists():
        # A failure, not a skip: the Horovod trainer is part of what `make test` must verify.
        pytest.fail(f"{python} is missing: run `make setup` (or bash scripts/setup_horovod.sh .venv-hvd)")
    return python


# prepare_cifar10.py's `tfrecord` (its main(), as its command line runs it), then test.tfrecords
# read back by TensorFlow: the record count, the labels' sum, the first image's sum and its first
# pixel's R+G+B. One TensorFlow process for both (a start costs ~3.5 CPU-s, the reading
# milliseconds); the reading opens the file the writer closed, as a separate process would.
WRITE_AND_READ_BACK = """
import runpy, sys
import numpy as np
script, source, directory = sys.argv[1:]
assert runpy.run_path(script)["main"](["tfrecord", source, directory]) == 0
import tensorflow as tf
labels, first = [], None
for raw in tf.data.TFRecordDataset(directory + "/test.tfrecords"):
    ex = tf.train.Example.FromString(raw.numpy())
    labels.append(ex.features.feature["label"].int64_list.value[0])
    if first is None:
        first = np.frombuffer(ex.features.feature["image"].bytes_list.value[0], np.uint8)
print(len(labels), sum(labels), int(first.sum()), int(first[:3].sum()))
"""


@dataclass(frozen=True)
class TFRecords:
    directory: Path
    test_read_back: str  # "count label_sum image0_sum pixel0_sum" of test.tfrecords, read by TensorFlow


@pytest.fixture(scope="session")
def cifar_tfrecords(
    harness: SimpleNamespace, hvd_python: Path, cifar_batches: Path, tmp_path_factory: pytest.TempPathFactory
) -> TFRecords:
    directory = tmp_path_factory.mktemp("tfrecords")
    script = harness.training_code / "data" / "prepare_cifar10.py"
    proc = subprocess.run(
        [str(hvd_python), "-c", WRITE_AND_READ_BACK, str(script), str(cifar_batches), str(directory)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return TFRecords(directory, proc.stdout.split("\n")[-2])


def test_tfrecords_hold_every_image_and_label(cifar_tfrecords: TFRecords, cifar_batches: Path) -> None:
    from common.cifar_format import load_split

    test = load_split(cifar_batches, "test")
    assert test is not None
    hwc = test.hwc()
    # the first pixel's R, G, B come first: the record holds the image as [32, 32, 3]
    expected = f"{len(test)} {int(test.labels.sum())} {int(hwc[0].sum())} {int(hwc[0, 0, 0].sum())}"
    assert cifar_tfrecords.test_read_back == expected


def test_two_horovod_workers_learn_stay_in_sync_and_only_rank0_writes(
    harness: SimpleNamespace, hvd_python: Path, cifar_tfrecords: TFRecords, tmp_path: Path
) -> None:
    """Its own run, not the session's horovod_keras one (tests/example_runs.py): the trainer alone
    under a bare mpirun, two ranks without the toolkit or `dtrain local`, for 24 steps on the
    training tests' learnable set, where the shared run is one host and 3 steps (enough to finish,
    too few to show learning or checkpoints), and the other two-host run is inside the emulated
    platform (tests/emulator/test_distributed_examples_on_platform.py)."""
    code = harness.make_code_dir("horovod", tmp_path / "code")
    hyperparameters = {
        "epochs": 3,
        "batch_size": 32,
        "width": 8,
        "lr": 0.05,
        "warmup_epochs": 1,
        "checkpoint_every_steps": 5,
    }
    env = harness.job_env(tmp_path / "unused", {"train": cifar_tfrecords.directory}, hyperparameters)
    for name in ("SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR", "SAGEMAKER_BASE_DIR"):
        env.pop(name)
    per_rank: list[str] = []
    for rank in range(2):
        per_rank += [":"] if rank else []
        per_rank += [
            "-np",
            "1",
            "-x",
            f"SAGEMAKER_BASE_DIR={tmp_path / f'rank{rank}'}",
            str(hvd_python),
            str(code / "train_hvd_keras.py"),
        ]
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", *per_rank]
    proc = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]

    metrics = [(int(e), int(s), float(loss)) for e, s, loss, _ in METRIC.findall(proc.stdout)]
    assert [(e, s) for e, s, _ in metrics] == [(1, 8), (2, 16), (3, 24)], proc.stdout  # rank 0 only
    assert metrics[-1][2] < metrics[0][2] - 0.2, metrics
    assert "train_hvd_keras: size=2" in proc.stdout
    assert "replicas_in_sync=True max_weight_divergence=0 workers=2" in proc.stdout

    rank0 = tmp_path / "rank0"
    assert (rank0 / "model" / "1" / "saved_model.pb").is_file()
    # TF Serving pre/post-processing for SageMaker hosting (tests/serving/test_tf_serving_format.py)
    assert sorted(p.name for p in (rank0 / "model" / "code").iterdir()) == [
        "inference.py",
        "normalization.json",
    ]
    assert sorted(p.name for p in (rank0 / "checkpoints").iterdir()) == [
        "step-000000020.ckpt",
        "step-000000024.ckpt",
    ]
    assert [p for p in (tmp_path / "rank1").rglob("*") if p.is_file()] == []
