"""Make CIFAR-10 data sets in the formats the training scripts read.

    python training_code/data/prepare_cifar10.py synth DIR --train 5000 --test 1000 [--seed 0]
    python training_code/data/prepare_cifar10.py npz SRC DST        # python batches -> npz
    python training_code/data/prepare_cifar10.py tfrecord SRC DST   # batches or npz -> TFRecords

``synth`` writes a learnable synthetic set in the real python-batch format (the real set cannot be
downloaded here); the same scripts read the real ``cifar-10-batches-py`` folder unchanged.
``tfrecord`` needs TensorFlow (run it with the Horovod virtualenv's python).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# A development tool, not part of an image: it borrows the format code from the training package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.cifar_format import (
    NPZ_NAMES,
    CifarSplit,
    load_split,
    make_synthetic,
    write_npz,
    write_python_batches,
)

TFRECORD_NAMES = {"train": "train.tfrecords", "test": "test.tfrecords"}


def _load_both(src: Path) -> tuple[CifarSplit, CifarSplit | None]:
    train = load_split(src, "train")
    if train is None:
        raise SystemExit(f"{src}: no CIFAR-10 training data (data_batch_N or {NPZ_NAMES['train']})")
    return train, load_split(src, "test")


def cmd_synth(args: argparse.Namespace) -> int:
    train = make_synthetic(args.train, seed=args.seed, sample_seed=args.seed + 1)
    test = make_synthetic(args.test, seed=args.seed, sample_seed=args.seed + 2) if args.test else None
    write_python_batches(args.dir, train, test)
    print(f"wrote {len(train)} train / {len(test) if test else 0} test synthetic images to {args.dir}")
    return 0


def cmd_npz(args: argparse.Namespace) -> int:
    train, test = _load_both(args.src)
    write_npz(args.dst / NPZ_NAMES["train"], train)
    if test is not None:
        write_npz(args.dst / NPZ_NAMES["test"], test)
    test_note = f" and test ({len(test)})" if test else ""
    print(f"wrote {args.dst / NPZ_NAMES['train']} ({len(train)}){test_note}")
    return 0


def write_tfrecords(path: Path, split: CifarSplit) -> None:
    import tensorflow as tf  # only this subcommand needs TensorFlow

    path.parent.mkdir(parents=True, exist_ok=True)
    images = split.hwc()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(images, split.labels, strict=True):
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
                        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                    }
                )
            )
            writer.write(example.SerializeToString())


def cmd_tfrecord(args: argparse.Namespace) -> int:
    train, test = _load_both(args.src)
    write_tfrecords(args.dst / TFRECORD_NAMES["train"], train)
    if test is not None:
        write_tfrecords(args.dst / TFRECORD_NAMES["test"], test)
    print(f"wrote TFRecords to {args.dst}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="write a learnable synthetic set in the python-batch format")
    synth.add_argument("dir", type=Path)
    synth.add_argument("--train", type=int, default=5000)
    synth.add_argument("--test", type=int, default=1000)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=cmd_synth)
    npz = sub.add_parser("npz", help="python batches -> cifar10_{train,test}.npz")
    npz.add_argument("src", type=Path)
    npz.add_argument("dst", type=Path)
    npz.set_defaults(func=cmd_npz)
    tfr = sub.add_parser("tfrecord", help="python batches or npz -> {train,test}.tfrecords")
    tfr.add_argument("src", type=Path)
    tfr.add_argument("dst", type=Path)
    tfr.set_defaults(func=cmd_tfrecord)
    args = parser.parse_args(argv)
    if args.command == "synth" and args.train < 1:
        parser.error("--train must be at least 1")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
