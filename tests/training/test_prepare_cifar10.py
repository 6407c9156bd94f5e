"""prepare_cifar10.py writes the real CIFAR-10 python-batch format, and the formats convert losslessly."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from common.cifar_format import LABEL_NAMES, load_split


def test_synth_writes_the_python_batch_format(cifar_batches: Path) -> None:
    names = sorted(p.name for p in cifar_batches.iterdir())
    assert names == ["batches.meta", *[f"data_batch_{i}" for i in range(1, 6)], "test_batch"]
    with open(cifar_batches / "data_batch_1", "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape[1] == 3072
    assert len(batch[b"labels"]) == len(batch[b"filenames"]) == batch[b"data"].shape[0]
    assert batch[b"batch_label"] == b"training batch 1 of 5"
    with open(cifar_batches / "batches.meta", "rb") as handle:
        meta = pickle.load(handle, encoding="bytes")
    assert meta[b"label_names"] == [n.encode() for n in LABEL_NAMES]


def test_rows_are_rgb_planes_in_row_major_order(cifar_batches: Path) -> None:
    with open(cifar_batches / "test_batch", "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    split = load_split(cifar_batches, "test")
    assert split is not None
    row = batch[b"data"][5]
    # the first 1024 bytes are the red plane, row by row: pixel (y=1, x=2) red is byte 32 + 2
    assert split.images[5, 0, 1, 2] == row[32 + 2]
    assert split.images[5, 2, 31, 31] == row[3071]
    assert split.hwc()[5, 1, 2, 0] == row[34]


def test_batches_to_npz_round_trip_is_lossless(
    cifar_batches: Path, cifar_npz: Path, harness: SimpleNamespace
) -> None:
    for split_name, count in (("train", harness.train_samples), ("test", harness.test_samples)):
        from_batches = load_split(cifar_batches, split_name)
        from_npz = load_split(cifar_npz, split_name)
        assert from_batches is not None and from_npz is not None
        assert len(from_batches) == count
        assert np.array_equal(from_batches.images, from_npz.images)
        assert np.array_equal(from_batches.labels, from_npz.labels)
    with np.load(cifar_npz / "cifar10_train.npz") as arrays:
        assert arrays["x"].shape == (harness.train_samples, 32, 32, 3) and arrays["x"].dtype == np.uint8


def test_synthetic_set_is_deterministic_and_uses_every_class(
    tmp_path: Path, cifar_batches: Path, harness: SimpleNamespace
) -> None:
    args = ["synth", str(tmp_path), "--train", str(harness.train_samples), "--test", "8"]
    assert harness.prepare.main(args) == 0
    again, first = load_split(tmp_path, "train"), load_split(cifar_batches, "train")
    assert again is not None and first is not None
    assert np.array_equal(again.images, first.images)
    assert set(first.labels.tolist()) == set(range(10))
