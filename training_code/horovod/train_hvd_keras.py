"""CIFAR-10 training with Horovod and TensorFlow/Keras 2, as the packaged ``horovod`` image runs it.

Started by mpirun/horovodrun (SageMaker's ``mpi`` distribution) or as a plain process. The recipe is
Horovod's: ``hvd.init()``, the learning rate scaled by the number of workers and warmed up over the
first epochs, ``hvd.DistributedOptimizer`` averaging the gradients, rank 0's initial state
broadcast to all, metrics averaged over workers, and only rank 0 checkpointing and saving.

Data: ``train.tfrecords`` in the train channel and ``test.tfrecords`` in the test channel (or next
to the training file), as ``training_code/data/prepare_cifar10.py tfrecord`` writes them; each
worker reads its own shard. ``batch_size`` is per worker (Horovod's convention).

Checkpoints (every ``checkpoint_every_steps``, at each epoch end and at SIGTERM) hold the weights and
the optimizer state; a resumed run starts the checkpoint's epoch over with the checkpoint's weights
(Keras' fit() starts epochs, not steps).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from common.checkpoints import CheckpointStore
from common.failure import run_reporting_failure
from common.hyperparameter_args import merge_cli_hyperparameters
from common.metrics import RankZeroLog
from common.model_code import package_keras_inference_code
from common.sagemaker_env import ContractError, SageMakerEnv
from common.stop_signal import StopRequest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Imported after TF_CPP_MIN_LOG_LEVEL is set: TensorFlow reads it once, at import.
import horovod.tensorflow as hvd_tf
import horovod.tensorflow.keras as hvd
import tensorflow as tf
from keras_cifar import (
    CIFAR_MEAN,
    CIFAR_STD,
    KerasConfig,
    build_model,
    count_records,
    find_tfrecords,
    test_dataset,
    train_dataset,
)

# ---------------------------------------------------------------- checkpoints


def _write_state(model: tf.keras.Model, meta: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": w for i, w in enumerate(model.optimizer.get_weights())})
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    return buffer.getvalue()


def save_state(store: CheckpointStore, step: int, model: tf.keras.Model, meta: dict[str, Any]) -> Path:
    data = _write_state(model, meta)
    return store.save(step, lambda path: path.write_bytes(data))


def restore_state(store: CheckpointStore, model: tf.keras.Model) -> tuple[Path, dict[str, Any]] | None:
    newest = store.newest()
    if newest is None:
        return None
    _, path = newest
    with np.load(path, allow_pickle=False) as arrays:
        meta = json.loads(str(arrays["meta"]))
        weights = [arrays[f"w{i}"] for i in range(meta["num_weights"])]
        optimizer = [arrays[f"o{i}"] for i in range(meta["num_optimizer_weights"])]
    model.set_weights(weights)
    # The legacy optimizer creates its slots lazily; create them so the saved ones can be loaded.
    model.optimizer._create_all_weights(model.trainable_variables)
    model.optimizer.set_weights(optimizer)
    return path, meta


class Checkpointing(tf.keras.callbacks.Callback):
    """Rank 0 saves every N steps and at each epoch end; every rank stops together on SIGTERM."""

    def __init__(
        self, store: CheckpointStore, config: KerasConfig, stop: StopRequest, log: RankZeroLog
    ) -> None:
        super().__init__()
        self.store, self.config, self.stop, self.log = store, config, stop, log
        self.epoch = 0
        self.step = 0  # global steps done, all epochs
        self.stopped = False

    def _save(self, epoch: int, step_in_epoch: int) -> None:
        if hvd.rank() != 0 or self.store.path_for(self.step).exists():
            return
        started = time.perf_counter()
        meta = {
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "step": self.step,
            "num_weights": len(self.model.get_weights()),
            "num_optimizer_weights": len(self.model.optimizer.get_weights()),
            "config": asdict(self.config),
        }
        path = save_state(self.store, self.step, self.model, meta)
        self.log(f"checkpoint {path.name} saved in {time.perf_counter() - started:.3f}s")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.step += 1
        if self.config.checkpoint_every_steps and self.step % self.config.checkpoint_every_steps == 0:
            self._save(self.epoch, batch + 1)
        # One tiny all-reduce per step: every worker learns of a SIGTERM that any worker received.
        anyone = hvd.allreduce(tf.constant(1.0 if self.stop.requested else 0.0), op=hvd.Sum, name="stop_flag")
        if float(anyone) > 0:
            self.log(f"SIGTERM: stopping at step {self.step}")
            self._save(self.epoch, batch + 1)
            self.stopped = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.stopped:
            self._save(epoch + 1, 0)


class MetricLines(tf.keras.callbacks.Callback):
    """The shared metric line, from rank 0, after MetricAverageCallback averaged the values."""

    def __init__(self, log: RankZeroLog, samples_per_step: int, checkpointing: Checkpointing) -> None:
        super().__init__()
        self.log, self.samples_per_step, self.checkpointing = log, samples_per_step, checkpointing
        self.started = 0.0
        self.steps = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.steps += 1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        elapsed = max(1e-9, time.perf_counter() - self.started)
        val = logs.get("val_accuracy")
        self.log.metrics(
            epoch=epoch + 1,
            step=self.checkpointing.step,
            train_loss=float(logs["loss"]),
            val_acc=float(val) if val is not None else None,
            samples_per_sec=self.steps * self.samples_per_step / elapsed,
        )


def replica_divergence(model: tf.keras.Model) -> float:
    """Largest difference between any worker's trainable weights and rank 0's (0.0 when in sync).

    BatchNorm's moving statistics are left out: each worker keeps its own, as in Horovod's recipe.
    """
    local = np.concatenate([w.numpy().ravel().astype(np.float64) for w in model.trainable_weights])
    reference = hvd.broadcast(tf.constant(local), root_rank=0, name="divergence_ref").numpy()
    diff = np.abs(local - reference).max()
    # A sum of non-negative differences is zero exactly when every worker matches rank 0.
    return float(hvd.allreduce(tf.constant(diff), op=hvd.Sum, name="divergence").numpy())


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    hvd.init()
    sm = SageMakerEnv.from_environ()
    hps = merge_cli_hyperparameters(sm.hyperparameters, sys.argv[1:] if argv is None else argv)
    config = KerasConfig.from_hyperparameters(hps)
    log = RankZeroLog(hvd.rank())
    stop = StopRequest().install()
    tf.keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        tf.config.experimental.set_memory_growth(gpus[hvd.local_rank()], True)
        tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")

    train_dir = sm.require_channel("train")
    train_files = find_tfrecords(train_dir, "train")
    if not train_files:
        raise ContractError("channel train", str(train_dir), "holds no train*.tfrecords")
    test_files = find_tfrecords(sm.channel("test") or train_dir, "test")
    num_train = count_records(train_files)
    steps_per_epoch = max(1, (num_train // hvd.size()) // config.batch_size)
    if config.max_steps is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_steps)
    log(
        f"train_hvd_keras: size={hvd.size()} gpus={len(gpus)} train_records={num_train}"
        f" steps_per_epoch={steps_per_epoch} config={asdict(config)}"
    )

    scaled_lr = config.lr * hvd.size()
    model = build_model(config.width, config.weight_decay)
    optimizer = hvd.DistributedOptimizer(
        tf.keras.optimizers.legacy.SGD(learning_rate=scaled_lr, momentum=config.momentum, nesterov=True)
    )
    model.compile(
        optimizer=optimizer,
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    store = CheckpointStore(sm.checkpoint_dir, keep=config.keep_checkpoints)
    initial_epoch = 0
    restored = restore_state(store, model) if hvd.rank() == 0 else None
    # Rank 0 decides where the job resumes (other hosts may lack the files); its weights and
    # optimizer state reach the others through the broadcast callback below.
    position = [restored[1]["epoch"], restored[1]["step"]] if restored else [0, 0]
    initial_epoch, initial_step = (
        int(v) for v in hvd.broadcast(tf.constant(position, tf.int64), root_rank=0, name="resume_at").numpy()
    )
    if restored:
        path, meta = restored
        log(f"resumed from step {meta['step']} (checkpoint {path.name}, epoch {meta['epoch'] + 1})")
    # Every worker starts from rank 0's weights and optimizer slots (restored or freshly seeded), so
    # even the first step's gradients are computed on identical replicas. The slots are created
    # lazily by Keras: create them everywhere first so that the broadcast covers them.
    model.optimizer._create_all_weights(model.trainable_variables)
    hvd_tf.broadcast_variables(model.variables, root_rank=0)
    hvd_tf.broadcast_variables(model.optimizer.variables(), root_rank=0)

    checkpointing = Checkpointing(store, config, stop, log)
    checkpointing.step = initial_step
    callbacks: list[tf.keras.callbacks.Callback] = [
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),
        hvd.callbacks.MetricAverageCallback(),
        hvd.callbacks.LearningRateWarmupCallback(
            initial_lr=scaled_lr, warmup_epochs=config.warmup_epochs, steps_per_epoch=steps_per_epoch
        ),
        checkpointing,
        MetricLines(log, config.batch_size * hvd.size(), checkpointing),
    ]
    model.fit(
        train_dataset(train_files, config, hvd.rank(), hvd.size()),
        steps_per_epoch=steps_per_epoch,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        validation_data=test_dataset(test_files, hvd.rank(), hvd.size()) if test_files else None,
        callbacks=callbacks,
        verbose=0,
    )
    if checkpointing.stopped:
        return 0
    divergence = replica_divergence(model)
    log(f"replicas_in_sync={divergence == 0.0} max_weight_divergence={divergence:.3g} workers={hvd.size()}")
    if hvd.rank() == 0:
        sm.model_dir.mkdir(parents=True, exist_ok=True)
        model.save(sm.model_dir / "1", save_format="tf")  # a SavedModel, as TF Serving loads it
        package_keras_inference_code(sm.model_dir, CIFAR_MEAN, CIFAR_STD)  # code/inference.py for hosting
        log(f"saved {sm.model_dir / '1'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_failure(main, SageMakerEnv.from_environ().failure_file))
