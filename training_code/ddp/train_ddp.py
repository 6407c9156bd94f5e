"""CIFAR-10 training with PyTorch DistributedDataParallel, as the packaged ``ddp`` image runs it.

Started by torchrun (SageMaker ``torch_distributed``), by mpirun (``pytorchddp``) or as a plain
process; reads the SageMaker contract through ``common``. The loop, top to bottom:

  data      the train/test channels (python batches or npz) as uint8 tensors on the device
  model     common.cifar_model.CifarNet, channels_last + bf16 autocast on GPU, optional torch.compile
  steps     global batch = batch_size (split over ranks as DistributedSampler would), SGD Nesterov,
            linear warm-up then linear decay; flip + translate augmentation drawn and applied on the
            device (no host-to-device copy inside a step); on a GPU or when compiling, one throwaway
            forward/backward first (prewarm) so autotuning and compilation happen before step 1
  spot      checkpoint every checkpoint_every_steps and on SIGTERM (then exit 0); resume from the
            newest checkpoint on start
  output    one metric line per epoch (and per log_every_steps) from rank 0; model.pt +
            model_config.json in SM_MODEL_DIR from rank 0; the failure file on a crash
"""

from __future__ import annotations

import gc
import sys
import time
from dataclasses import asdict
from typing import Any, cast

import torch
import torch.distributed as dist
import torch.nn.functional as F
from common.checkpoints import CheckpointStore
from common.cifar_format import load_channels
from common.cifar_model import CifarNet, ModelConfig, save_model
from common.cifar_train_config import TrainConfig, lr_lambda, set_determinism
from common.device_data import Augmentation, BatchPlan, DeviceImages, epoch_order
from common.failure import run_reporting_failure
from common.hyperparameter_args import merge_cli_hyperparameters
from common.launcher_env import detect_rank_info
from common.metrics import RankZeroLog
from common.model_code import package_inference_code
from common.sagemaker_env import ContractError, SageMakerEnv
from common.stop_signal import StopRequest
from common.torch_checkpoint import apply_training_state, read_newest_state, save_training_state
from common.torch_distributed import (
    DistContext,
    StopAgreement,
    init_distributed,
    max_replica_divergence,
    shutdown_distributed,
)
from torch.nn.parallel import DistributedDataParallel

# Evaluation runs in chunks of this many images; when compiled, the last chunk is padded to it so
# evaluation compiles one graph, not a second one for the remainder.
EVAL_CHUNK = 1024


class Trainer:
    def __init__(self, sm: SageMakerEnv, config: TrainConfig, ctx: DistContext, log: RankZeroLog) -> None:
        self.sm, self.config, self.ctx, self.log = sm, config, ctx, log
        self.started_at = time.perf_counter()
        self.first_step_s: float | None = None  # trainer start -> first step finished on the device
        on_gpu = ctx.device.type == "cuda"
        self.amp = on_gpu  # bf16 autocast: no loss scaling needed, so the scaler stays off
        self.channels_last = on_gpu

        train, test = load_channels(sm.require_channel("train"), sm.channel("test"))

        self.model_config = ModelConfig(width=config.width)
        mean, std = self.model_config.mean, self.model_config.std
        self.train_data = DeviceImages(train, ctx.device, mean, std, channels_last=self.channels_last)
        self.test_data = (
            DeviceImages(test, ctx.device, mean, std, channels_last=self.channels_last) if test else None
        )
        self.plan = BatchPlan(len(self.train_data), ctx.world_size, config.batch_size)
        self.augment_generator = torch.Generator(device=ctx.device)
        if self.plan.padded_size >= config.batch_size and config.batch_size % ctx.world_size:
            raise ContractError(
                "hyperparameters.batch_size",
                config.batch_size,
                f"must divide by the {ctx.world_size} processes",
            )
        per_epoch = self.plan.steps_per_epoch
        self.total_steps = config.epochs * per_epoch
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)

        self.model = CifarNet(self.model_config).to(ctx.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.momentum > 0,
            weight_decay=config.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(self.total_steps, config.warmup_fraction)
        )
        self.store = CheckpointStore(sm.checkpoint_dir, keep=config.keep_checkpoints)
        self.step = self._resume()

        wrapped: torch.nn.Module = self.model
        if ctx.distributed:
            # Constructing DDP broadcasts rank 0's parameters and buffers: every rank starts equal.
            wrapped = DistributedDataParallel(
                self.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
            )
        # What the steps call: the DDP wrapper (or the bare model in a job of one), compiled if asked.
        self.net = cast(torch.nn.Module, torch.compile(wrapped)) if config.compile else wrapped

    def _resume(self) -> int:
        found = read_newest_state(self.store) if self.ctx.is_rank0 else None
        if self.ctx.distributed:
            # Rank 0 decides: other hosts may not have the checkpoint files at all.
            box: list[Any] = [found]
            dist.broadcast_object_list(box, src=0, group=self.ctx.control_group)
            found = box[0]
        if found is None:
            return 0
        path, payload = found
        resumed = apply_training_state(
            payload, path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler, scaler=None
        )
        saved_plan = payload["extra"].get("steps_per_epoch")
        if saved_plan not in (None, self.plan.steps_per_epoch):
            self.log(
                f"warning: checkpoint has {saved_plan} steps per epoch, this run {self.plan.steps_per_epoch};"
                " continuing from the same global step"
            )
        self.log(
            f"resumed from step {resumed.step} (checkpoint {path.name}, epoch {resumed.epoch + 1},"
            f" step {resumed.step_in_epoch} of {self.plan.steps_per_epoch} in it)"
        )
        return resumed.step

    def save_checkpoint(self) -> None:
        if not self.ctx.is_rank0:
            return
        started = time.perf_counter()
        per_epoch = self.plan.steps_per_epoch
        path = save_training_state(
            self.store,
            step=self.step,
            epoch=self.step // per_epoch,
            step_in_epoch=self.step % per_epoch,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=None,
            extra={
                "config": asdict(self.config),
                "steps_per_epoch": per_epoch,
                "world_size": self.ctx.world_size,
            },
        )
        self.log(f"checkpoint {path.name} saved in {time.perf_counter() - started:.3f}s")

    def train_step(self, order: torch.Tensor, step_in_epoch: int) -> torch.Tensor:
        cfg, ctx = self.config, self.ctx
        index = self.plan.rank_batch(order, step_in_epoch, ctx.rank)
        global_batch = min(cfg.batch_size, self.plan.padded_size)
        augment = Augmentation.draw(
            seed=cfg.seed,
            step=self.step,
            global_batch=global_batch,
            rank=ctx.rank,
            world_size=ctx.world_size,
            generator=self.augment_generator,
        )
        images, labels = self.train_data.augmented_batch(index, augment)
        with torch.autocast(device_type=ctx.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.net(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return loss.detach()

    def prewarm(self) -> None:
        """One forward/backward of a training batch and one evaluation chunk, thrown away.

        The first call of each shape pays for cuDNN's algorithm search, torch.compile and the
        allocator's first allocations; paying here keeps it out of the first epoch. Nothing
        remains: the gradients are dropped before any optimizer step, and the batch-norm running
        statistics the forward pass moved are put back, so a run with and without it (and a
        resumed one) ends with the same weights. Every rank runs it (DDP all-reduces the
        throwaway gradients like any others).
        """
        per_rank = min(self.config.batch_size, self.plan.padded_size) // self.ctx.world_size
        buffers = [(b, b.detach().clone()) for b in self.model.buffers()]
        images, labels = self.train_data.batch(torch.arange(per_rank, device=self.ctx.device))
        with torch.autocast(device_type=self.ctx.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.net(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.config.label_smoothing)
        loss.backward()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for live, saved in buffers:
                live.copy_(saved)
        if self.test_data is not None:
            self._correct(torch.arange(min(EVAL_CHUNK, len(self.test_data)), device=self.ctx.device))
        if self.ctx.device.type == "cuda":
            torch.cuda.synchronize(self.ctx.device)

    @torch.no_grad()
    def _correct(self, index: torch.Tensor) -> torch.Tensor:
        """How many of the test images at ``index`` the model classifies right (a device scalar)."""
        assert self.test_data is not None
        count = len(index)
        if count == 0:
            # A rank of a world larger than the test set has no test images (nothing to pad from).
            return torch.zeros((), dtype=torch.int64, device=self.ctx.device)
        if self.config.compile and count < EVAL_CHUNK:
            index = torch.cat([index, index[:1].expand(EVAL_CHUNK - count)])
        images, labels = self.test_data.batch(index)
        self.net.eval()
        with torch.autocast(device_type=self.ctx.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.net(images)
        self.net.train()
        return (logits[:count].argmax(1) == labels[:count]).sum()

    def evaluate(self) -> float | None:
        if self.test_data is None:
            return None
        correct = torch.zeros((), device=self.ctx.device, dtype=torch.float64)
        index = torch.arange(self.ctx.rank, len(self.test_data), self.ctx.world_size, device=self.ctx.device)
        for chunk in index.split(EVAL_CHUNK):
            correct += self._correct(chunk)
        if self.ctx.distributed:
            dist.all_reduce(correct)
        return float(correct.item()) / len(self.test_data)

    def mean_over_ranks(self, value: torch.Tensor) -> float:
        if self.ctx.distributed:
            value = value.clone()
            dist.all_reduce(value)
            value /= self.ctx.world_size
        return float(value.item())

    def run(self, stop: StopAgreement) -> bool:
        """Trains to total_steps; False when stopped by SIGTERM (after checkpointing)."""
        cfg, per_epoch = self.config, self.plan.steps_per_epoch
        global_batch = min(cfg.batch_size, self.plan.padded_size)
        self.net.train()
        on_gpu = self.ctx.device.type == "cuda"
        if cfg.prewarm if cfg.prewarm is not None else (on_gpu or cfg.compile):
            started = time.perf_counter()
            self.prewarm()
            self.log(
                f"prewarm: {time.perf_counter() - started:.2f}s (compilation, autotuning, first allocations)"
            )
        while self.step < self.total_steps:
            epoch = self.step // per_epoch
            order = epoch_order(len(self.train_data), self.ctx.world_size, seed=cfg.seed, epoch=epoch)
            order = order.to(self.ctx.device)  # once per epoch; the steps slice it on the device
            loss_sum = torch.zeros((), device=self.ctx.device)
            loss_count = 0
            started = time.perf_counter()
            interval_steps = 0
            for step_in_epoch in range(self.step % per_epoch, per_epoch):
                if self.step >= self.total_steps:
                    break
                if stop.should_stop():
                    stop.drain()
                    received = stop.stop.received_at
                    after = f", {time.monotonic() - received:.2f}s after the signal" if received else ""
                    self.log(f"SIGTERM: stopping at step {self.step}{after}")
                    self.save_checkpoint()
                    self.ctx.barrier()
                    return False
                loss_sum += self.train_step(order, step_in_epoch)
                loss_count += 1
                if self.first_step_s is None:
                    # One wait for the device, once per process: time to the first useful step.
                    if on_gpu:
                        torch.cuda.synchronize(self.ctx.device)
                    self.first_step_s = time.perf_counter() - self.started_at
                    self.log(f"first step done {self.first_step_s:.2f}s after the trainer started")
                interval_steps += 1
                self.step += 1
                if cfg.checkpoint_every_steps and self.step % cfg.checkpoint_every_steps == 0:
                    self.save_checkpoint()
                interval_due = cfg.log_every_steps and self.step % cfg.log_every_steps == 0
                if interval_due and step_in_epoch + 1 < per_epoch:
                    loss = self.mean_over_ranks(loss_sum / max(1, loss_count))
                    rate = interval_steps * global_batch / (time.perf_counter() - started)
                    self.log.metrics(epoch=epoch + 1, step=self.step, train_loss=loss, samples_per_sec=rate)
            loss = self.mean_over_ranks(loss_sum / max(1, loss_count))  # also syncs the device
            rate = interval_steps * global_batch / max(1e-9, time.perf_counter() - started)
            val_acc = self.evaluate()
            self.log.metrics(
                epoch=epoch + 1, step=self.step, train_loss=loss, val_acc=val_acc, samples_per_sec=rate
            )
        stop.drain()
        return True

    def save_model(self) -> None:
        if self.ctx.is_rank0:
            save_model(self.model, self.model_config, self.sm.model_dir)
            package_inference_code(self.sm.model_dir)  # code/inference.py for SageMaker hosting
            self.log(f"saved {self.sm.model_dir / 'model.pt'}")


def main(argv: list[str] | None = None) -> int:
    sm = SageMakerEnv.from_environ()
    hps = merge_cli_hyperparameters(sm.hyperparameters, sys.argv[1:] if argv is None else argv)
    config = TrainConfig.from_hyperparameters(hps)
    set_determinism(config)
    stop_request = StopRequest().install()
    ctx = init_distributed(detect_rank_info(sm), sm)
    log = RankZeroLog(ctx.rank)
    try:
        log(
            f"train_ddp: launcher={ctx.info.launcher} world_size={ctx.world_size} device={ctx.device}"
            f" backend={ctx.backend or 'none'} config={asdict(config)}"
        )
        trainer = Trainer(sm, config, ctx, log)
        if trainer.run(StopAgreement(ctx, stop_request)):
            divergence = max_replica_divergence(trainer.model, ctx)
            in_sync = divergence == 0.0
            log(f"replicas_in_sync={in_sync} max_param_divergence={divergence:.3g} ranks={ctx.world_size}")
            trainer.save_model()
        # Free the DDP model before the last barrier. Its Reducer holds the last references to
        # gloo work objects whose tensors belong to Python; freed after the process group, the
        # Reducer's destructor joins gloo's worker threads while holding the GIL, and a worker
        # that needs the GIL to drop such a tensor deadlocks the exit (seen under load: rank 0
        # hung after "saved model.pt"). During the barrier's wait the GIL is free, so the
        # workers finish first.
        del trainer
        gc.collect()
        ctx.barrier()
    finally:
        shutdown_distributed(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_failure(main, SageMakerEnv.from_environ().failure_file))
