"""SageMaker Processing script: raw CIFAR-10 python batches -> the npz and TFRecords the trainers read.

    ScriptProcessor(command=["python3"], ...).run(code="preprocess_cifar10.py", inputs=..., outputs=...)

Reads the python batches (data_batch_1..N, test_batch; ``cifar-10-batches-py`` or
``dtrain data cifar10-sample``) from --input (default /opt/ml/processing/input/raw) and writes
    <--train-output>/cifar10_train.npz  train.tfrecords
    <--test-output>/cifar10_test.npz    test.tfrecords
(defaults /opt/ml/processing/output/{train,test}): the names training_code/common/cifar_format.py
and the Horovod/Keras trainer read. A processing job ships this one file, so the formats are
written here: npz with numpy; TFRecords with TensorFlow when it is installed, else with the
record framing and tf.train.Example encoding written out below (same bytes on disk per record:
length, masked CRC-32C of the length, the serialized Example, masked CRC-32C of it).
Paths under /opt/ml move with SAGEMAKER_BASE_DIR, as the SageMaker toolkits allow.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import struct
import sys
import time
from pathlib import Path

import numpy as np

NPZ_NAMES = {"train": "cifar10_train.npz", "test": "cifar10_test.npz"}
TFRECORD_NAMES = {"train": "train.tfrecords", "test": "test.tfrecords"}
_BATCH = re.compile(r"^data_batch_(\d+)$")


def _base(path: str) -> Path:
    base = os.environ.get("SAGEMAKER_BASE_DIR")
    if base and (path == "/opt/ml" or path.startswith("/opt/ml/")):
        return Path(base + path[len("/opt/ml") :])
    return Path(path)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")  # the published format; input is trusted
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    images = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def find_batches(root: Path) -> Path:
    for candidate in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        if (candidate / "data_batch_1").is_file() or (candidate / "test_batch").is_file():
            return candidate
    raise SystemExit(f"{root}: no CIFAR-10 python batches (data_batch_N / test_batch)")


def read_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    if split == "test":
        path = directory / "test_batch"
        return _read_batch(path) if path.is_file() else None
    numbered = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _BATCH.match(p.name)))
    if not numbered:
        return None
    parts = [_read_batch(p) for _, p in numbered]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


# --- TFRecords without TensorFlow ------------------------------------------------------------
def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    # TensorFlow's record framing (tensorflow/core/lib/hash/crc32c.h, Mask).
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def example_bytes(image: bytes, label: int) -> bytes:
    """tf.train.Example{features: {"image": bytes_list[image], "label": int64_list[label]}}."""
    image_feature = _field(1, _field(1, image))  # Feature.bytes_list(1) -> BytesList.value(1)
    label_list = _varint(1 << 3 | 0) + _varint(label)  # Int64List.value(1), unpacked
    label_feature = _field(3, label_list)  # Feature.int64_list(3)
    entries = b"".join(
        _field(1, _field(1, key.encode()) + _field(2, feature))  # map entry: key(1), value(2)
        for key, feature in (("image", image_feature), ("label", label_feature))
    )
    return _field(1, entries)  # Example.features(1) -> Features.feature(1) entries


def write_tfrecords(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    records = (
        example_bytes(image.tobytes(), int(label)) for image, label in zip(images, labels, strict=True)
    )
    try:
        import tensorflow as tf
    except ImportError:
        tf = None
    if tf is not None:  # the same records; TensorFlow's C++ CRC-32C is far faster than the loop above
        with tf.io.TFRecordWriter(str(path)) as writer:
            for record in records:
                writer.write(record)
        return
    with open(path, "wb") as handle:
        for record in records:
            header = struct.pack("<Q", len(record))
            handle.write(header + struct.pack("<I", masked_crc(header)))
            handle.write(record + struct.pack("<I", masked_crc(record)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default="/opt/ml/processing/input/raw")
    parser.add_argument("--train-output", default="/opt/ml/processing/output/train")
    parser.add_argument("--test-output", default="/opt/ml/processing/output/test")
    parser.add_argument("--formats", default="npz,tfrecord", help="comma-separated: npz, tfrecord")
    args = parser.parse_args(argv)
    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    if not formats <= {"npz", "tfrecord"}:
        parser.error(f"--formats: unknown {sorted(formats - {'npz', 'tfrecord'})}")
    started = time.monotonic()
    batches = find_batches(_base(args.input))
    outputs = {"train": _base(args.train_output), "test": _base(args.test_output)}
    records = 0
    written = 0
    for split, directory in outputs.items():
        data = read_split(batches, split)
        if data is None:
            continue
        images, labels = data
        directory.mkdir(parents=True, exist_ok=True)
        if "npz" in formats:
            np.savez(directory / NPZ_NAMES[split], x=images, y=labels.astype(np.uint8))
            written += (directory / NPZ_NAMES[split]).stat().st_size
        if "tfrecord" in formats:
            write_tfrecords(directory / TFRECORD_NAMES[split], images, labels)
            written += (directory / TFRECORD_NAMES[split]).stat().st_size
        records += len(labels)
        print(f"{split}: {len(labels)} records -> {directory}", flush=True)
    seconds = time.monotonic() - started
    summary = {"records": records, "bytes": written, "seconds": round(seconds, 3)}
    print(f"preprocess_cifar10: {json.dumps(summary)}", flush=True)
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
