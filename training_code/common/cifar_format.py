"""CIFAR-10 on disk: the original python batches, the compact npz, and a synthetic stand-in.

The python batches (``cifar-10-batches-py``) are pickled dicts: b"data" uint8 [N, 3072] whose rows are
the R, G and B 32x32 planes in row-major order, b"labels" (list of int), b"batch_label", b"filenames";
``batches.meta`` holds b"label_names". The npz form holds x: uint8 [N, 32, 32, 3] and y: [N].
In memory a split is ``images`` uint8 [N, 3, 32, 32] (the batch rows reshaped, no copy) + ``labels``.

The batches are pickles, as the data set is published; a channel is trusted input of the job.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
NUM_TRAIN_BATCHES = 5
NPZ_NAMES = {"train": "cifar10_train.npz", "test": "cifar10_test.npz"}
_BATCH_NAME = re.compile(r"^data_batch_(\d+)$")


@dataclass(frozen=True)
class CifarSplit:
    images: np.ndarray  # uint8 [N, 3, 32, 32]
    labels: np.ndarray  # int64 [N]

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.shape[1:] != (3, 32, 32):
            got = f"{self.images.dtype} {self.images.shape}"
            raise ValueError(f"images must be uint8 [N, 3, 32, 32], got {got}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be [N={self.images.shape[0]}], got {self.labels.shape}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def hwc(self) -> np.ndarray:
        """Images as [N, 32, 32, 3] (the npz and TFRecord layout)."""
        return np.ascontiguousarray(self.images.transpose(0, 2, 3, 1))


def _key(batch: dict[object, object], name: str) -> object:
    # The published pickles come from Python 2: keys load as bytes. Accept str keys too.
    if name.encode() in batch:
        return batch[name.encode()]
    return batch[name]


def _read_batch(path: Path) -> CifarSplit:
    with open(path, "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    data = np.asarray(_key(batch, "data"), dtype=np.uint8)
    labels = np.asarray(_key(batch, "labels"), dtype=np.int64)
    return CifarSplit(data.reshape(-1, 3, 32, 32), labels)


def _concat(parts: list[CifarSplit]) -> CifarSplit:
    return CifarSplit(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))


def find_batches_dir(root: Path) -> Path | None:
    """The directory holding data_batch_1 / test_batch: the root or a folder below it."""
    for candidate in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        if (candidate / "data_batch_1").is_file() or (candidate / "test_batch").is_file():
            return candidate
    return None


def read_python_batches(directory: Path, split: str) -> CifarSplit | None:
    if split == "test":
        path = directory / "test_batch"
        return _read_batch(path) if path.is_file() else None
    numbered = []
    for entry in directory.iterdir():
        match = _BATCH_NAME.match(entry.name)
        if match:
            numbered.append((int(match.group(1)), entry))
    if not numbered:
        return None
    return _concat([_read_batch(path) for _, path in sorted(numbered)])


def write_python_batches(
    directory: Path, train: CifarSplit, test: CifarSplit | None, *, prefix: str = "synthetic"
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    chunks = np.array_split(np.arange(len(train)), NUM_TRAIN_BATCHES)
    for number, index in enumerate(chunks, start=1):
        _write_batch(
            directory / f"data_batch_{number}",
            CifarSplit(train.images[index], train.labels[index]),
            batch_label=f"training batch {number} of {NUM_TRAIN_BATCHES}",
            names=[f"{prefix}_train_{i:06d}.png" for i in index],
        )
    if test is not None:
        _write_batch(
            directory / "test_batch",
            test,
            batch_label="testing batch 1 of 1",
            names=[f"{prefix}_test_{i:06d}.png" for i in range(len(test))],
        )
    meta = {
        b"label_names": [name.encode() for name in LABEL_NAMES],
        b"num_cases_per_batch": max(len(c) for c in chunks),
        b"num_vis": 3072,
    }
    with open(directory / "batches.meta", "wb") as handle:
        pickle.dump(meta, handle, protocol=4)


def _write_batch(path: Path, split: CifarSplit, *, batch_label: str, names: list[str]) -> None:
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(v) for v in split.labels],
        b"data": np.ascontiguousarray(split.images.reshape(len(split), 3072)),
        b"filenames": [n.encode() for n in names],
    }
    with open(path, "wb") as handle:
        pickle.dump(batch, handle, protocol=4)


def read_npz(path: Path) -> CifarSplit:
    with np.load(path, allow_pickle=False) as arrays:
        x = np.asarray(arrays["x"], dtype=np.uint8)
        y = np.asarray(arrays["y"], dtype=np.int64)
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise ValueError(f"{path}: x must be uint8 [N, 32, 32, 3], got {x.shape}")
    return CifarSplit(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y)


def write_npz(path: Path, split: CifarSplit) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=split.hwc(), y=split.labels.astype(np.uint8))


def load_split(root: Path, split: str) -> CifarSplit | None:
    """The split ("train" or "test") stored under a channel directory, in either format."""
    npz = root / NPZ_NAMES[split]
    if npz.is_file():
        return read_npz(npz)
    batches = find_batches_dir(root)
    return read_python_batches(batches, split) if batches is not None else None


def make_synthetic(count: int, *, seed: int, sample_seed: int) -> CifarSplit:
    """A learnable CIFAR-shaped set: each class is a smooth colour pattern under heavy noise.

    ``seed`` fixes the class patterns (shared by train and test), ``sample_seed`` the samples.
    """
    patterns_rng = np.random.default_rng(seed)
    coarse = patterns_rng.uniform(-1.0, 1.0, size=(len(LABEL_NAMES), 3, 4, 4))
    patterns = np.kron(coarse, np.ones((1, 1, 8, 8)))  # [10, 3, 32, 32], 8x8 blocks
    rng = np.random.default_rng(sample_seed)
    labels = rng.integers(0, len(LABEL_NAMES), size=count)
    noise = rng.normal(0.0, 55.0, size=(count, 3, 32, 32))
    images = 128.0 + 60.0 * patterns[labels] + noise
    flip = rng.random(count) < 0.5  # flipped samples, so a flip augmentation keeps labels right
    images[flip] = images[flip][..., ::-1]
    return CifarSplit(np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64))


def load_channels(train_dir: Path, test_dir: Path | None) -> tuple[CifarSplit, CifarSplit | None]:
    """The training split from the train channel; the test split from the test channel, or from the
    train channel when the job gives no test channel (the batches folder holds both)."""
    train = load_split(train_dir, "train")
    if train is None:
        raise FileNotFoundError(f"channel train: {train_dir} holds no CIFAR-10 training data")
    return train, load_split(test_dir if test_dir is not None else train_dir, "test")
