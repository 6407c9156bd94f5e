"""The CIFAR-10 pieces both Keras trainers share: hyperparameters, the TFRecord input pipeline,
the model. ``train_hvd_keras.py`` (Horovod) and ``train_tf_keras.py`` (tf.distribute strategies)
read the same data the same way and train the same network.

Data: ``train.tfrecords`` / ``test.tfrecords`` as ``training_code/data/prepare_cifar10.py tfrecord``
writes them (``image``: 32x32x3 uint8 bytes, ``label``: int64).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common.config_fields import config_from_hyperparameters
from common.sagemaker_env import Hyperparameters

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Imported after TF_CPP_MIN_LOG_LEVEL is set: TensorFlow reads it once, at import.
import tensorflow as tf

CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32) * 255
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32) * 255


@dataclass(frozen=True)
class KerasConfig:
    epochs: int = 10
    batch_size: int = 128  # per worker
    lr: float = 0.05  # for one worker; scaled by the number of workers
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 2
    seed: int = 0
    width: int = 32
    checkpoint_every_steps: int = 0
    keep_checkpoints: int = 2
    deterministic: bool = False
    max_steps: int | None = None  # caps the steps of each epoch (smoke runs)

    @classmethod
    def from_hyperparameters(cls, hps: Hyperparameters) -> KerasConfig:
        return config_from_hyperparameters(
            cls, hps, at_least_one=("epochs", "batch_size", "width", "keep_checkpoints")
        )


# ---------------------------------------------------------------- data


def find_tfrecords(directory: Path, split: str) -> list[Path]:
    return sorted(p for p in directory.rglob(f"{split}*.tfrecord*") if p.is_file())


def count_records(files: list[Path]) -> int:
    return sum(1 for _ in tf.data.TFRecordDataset([str(f) for f in files]))


def _parse(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    features = tf.io.parse_single_example(
        record,
        {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)},
    )
    image = tf.reshape(tf.io.decode_raw(features["image"], tf.uint8), [32, 32, 3])
    return image, features["label"]


def _normalise(image: tf.Tensor) -> tf.Tensor:
    return (tf.cast(image, tf.float32) - CIFAR_MEAN) / CIFAR_STD


def _augment(image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    # Stateless ops keyed by (seed, element index): the same input pipeline gives the same batches.
    image = tf.image.stateless_random_flip_left_right(image, seed=seed)
    padded = tf.pad(image, [[2, 2], [2, 2], [0, 0]], mode="REFLECT")
    image = tf.image.stateless_random_crop(padded, [32, 32, 3], seed=seed + 1)
    return _normalise(image), label


def train_dataset(files: list[Path], config: KerasConfig, rank: int, size: int) -> tf.data.Dataset:
    records = tf.data.TFRecordDataset([str(f) for f in files]).shard(size, rank).map(_parse).cache()
    shuffled = records.shuffle(4096, seed=config.seed + rank, reshuffle_each_iteration=True).repeat()
    indexed = tf.data.Dataset.zip((shuffled, tf.data.Dataset.counter()))
    augmented = indexed.map(
        lambda example, i: _augment(
            example[0], example[1], tf.stack([config.seed + rank, tf.cast(i, tf.int32)])
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return augmented.batch(config.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def test_dataset(files: list[Path], rank: int, size: int) -> tf.data.Dataset:
    records = tf.data.TFRecordDataset([str(f) for f in files]).shard(size, rank).map(_parse)
    return records.map(lambda image, label: (_normalise(image), label)).batch(512).cache()


# ---------------------------------------------------------------- model


def build_model(width: int, weight_decay: float) -> tf.keras.Model:
    regulariser = tf.keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    def conv_bn(x: tf.Tensor, channels: int, pool: bool) -> tf.Tensor:
        x = tf.keras.layers.Conv2D(
            channels, 3, padding="same", use_bias=False, kernel_regularizer=regulariser
        )(x)
        if pool:
            x = tf.keras.layers.MaxPooling2D(2)(x)
        x = tf.keras.layers.BatchNormalization(momentum=0.6, epsilon=1e-5)(x)
        return tf.keras.layers.Activation("gelu")(x)

    inputs = tf.keras.Input(shape=(32, 32, 3))
    x = conv_bn(inputs, max(8, width // 2), pool=False)
    for channels in (width, 4 * width, 4 * width):
        x = conv_bn(x, channels, pool=True)
        x = conv_bn(x, channels, pool=False)
    x = tf.keras.layers.GlobalMaxPooling2D()(x)
    logits = tf.keras.layers.Dense(10, use_bias=False, kernel_regularizer=regulariser)(x)
    return tf.keras.Model(inputs, logits, name="dtrain_cifar_keras")
