"""CIFAR-10 training with Horovod and PyTorch, as the packaged ``horovod`` image runs it.

The same model, data handling, hyperparameters, checkpoints and metric lines as ``train_ddp.py``
(the global ``batch_size`` is split over the workers), with Horovod's recipe in place of DDP:
``hvd.init()``, ``hvd.DistributedOptimizer`` averaging gradients, rank 0's parameters and optimizer
state broadcast before the first step, and only rank 0 checkpointing and saving.

Horovod 0.28.1's PyTorch extension builds against torch >= 2.1 only with the upstream C++17 patch
(training_code/horovod/patches/; .venv-hvd has torch 2.13), and the image may pin an older torch, so
this script sticks to APIs that torch 2.0 has.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Any

import horovod.torch as hvd
import torch
import torch.nn.functional as F
from common.checkpoints import CheckpointStore
from common.cifar_format import load_channels
from common.cifar_model import CifarNet, ModelConfig, save_model
from common.cifar_train_config import TrainConfig, lr_lambda, set_determinism
from common.device_data import Augmentation, BatchPlan, DeviceImages, epoch_order
from common.failure import run_reporting_failure
from common.hyperparameter_args import merge_cli_hyperparameters
from common.metrics import RankZeroLog
from common.model_code import package_inference_code
from common.sagemaker_env import ContractError, SageMakerEnv
from common.stop_signal import StopRequest
from common.torch_checkpoint import apply_training_state, read_newest_state, save_training_state


class StopVote:
    """Every worker learns of a SIGTERM that any worker got, one step later, without stalling."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop
        self.handle: Any = None
        self.round = 0

    def should_stop(self) -> bool:
        decided = False
        if self.handle is not None:
            decided = bool(hvd.synchronize(self.handle).item() > 0)
        flag = torch.tensor([1.0 if self.stop.requested else 0.0])
        self.handle = hvd.allreduce_async(flag, op=hvd.Sum, name=f"stop_vote.{self.round}")
        self.round += 1
        return decided

    def drain(self) -> None:
        if self.handle is not None:
            hvd.synchronize(self.handle)
            self.handle = None


def main(argv: list[str] | None = None) -> int:
    hvd.init()
    sm = SageMakerEnv.from_environ()
    hps = merge_cli_hyperparameters(sm.hyperparameters, sys.argv[1:] if argv is None else argv)
    config = TrainConfig.from_hyperparameters(hps)
    set_determinism(config)
    stop_request = StopRequest().install()
    rank, size = hvd.rank(), hvd.size()
    log = RankZeroLog(rank)

    cuda = torch.cuda.is_available() and sm.num_gpus != 0
    device = torch.device("cuda", hvd.local_rank()) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    log(f"train_hvd_torch: size={size} device={device} config={asdict(config)}")

    train, test = load_channels(sm.require_channel("train"), sm.channel("test"))
    model_config = ModelConfig(width=config.width)
    train_data = DeviceImages(train, device, model_config.mean, model_config.std, channels_last=cuda)
    test_data = (
        DeviceImages(test, device, model_config.mean, model_config.std, channels_last=cuda) if test else None
    )
    plan = BatchPlan(len(train_data), size, config.batch_size)
    if plan.padded_size >= config.batch_size and config.batch_size % size:
        raise ContractError(
            "hyperparameters.batch_size", config.batch_size, f"must divide by the {size} workers"
        )
    per_epoch = plan.steps_per_epoch
    total_steps = config.epochs * per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    global_batch = min(config.batch_size, plan.padded_size)

    model = CifarNet(model_config).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    base_optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.momentum > 0,
        weight_decay=config.weight_decay,
    )
    optimizer = hvd.DistributedOptimizer(base_optimizer, named_parameters=model.named_parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(total_steps, config.warmup_fraction))
    store = CheckpointStore(sm.checkpoint_dir, keep=config.keep_checkpoints)

    # Rank 0 decides where the job resumes (other hosts may lack the files) and sends the state.
    # A fixed name: Horovod's default is the object's type, a tuple on rank 0 and None on the
    # others, and broadcasts of different names never meet (the resumed job hangs).
    found = hvd.broadcast_object(read_newest_state(store) if rank == 0 else None, root_rank=0, name="resume")
    step = 0
    if found is not None:
        path, payload = found
        resumed = apply_training_state(
            payload, path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=None
        )
        step = resumed.step
        log(f"resumed from step {step} (checkpoint {path.name}, epoch {resumed.epoch + 1})")
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)

    def checkpoint() -> None:
        if rank != 0:
            return
        started = time.perf_counter()
        saved = save_training_state(
            store,
            step=step,
            epoch=step // per_epoch,
            step_in_epoch=step % per_epoch,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=None,
            extra={"config": asdict(config), "steps_per_epoch": per_epoch, "world_size": size},
        )
        log(f"checkpoint {saved.name} saved in {time.perf_counter() - started:.3f}s")

    # Augmentation drawn on the data's device, as train_ddp does: no host-to-device copy a step.
    augment_generator = torch.Generator(device=device)
    vote = StopVote(stop_request)
    model.train()
    while step < total_steps:
        epoch = step // per_epoch
        order = epoch_order(len(train_data), size, seed=config.seed, epoch=epoch)
        loss_sum, loss_count, started = torch.zeros((), device=device), 0, time.perf_counter()
        for step_in_epoch in range(step % per_epoch, per_epoch):
            if step >= total_steps:
                break
            if vote.should_stop():
                vote.drain()
                log(f"SIGTERM: stopping at step {step}")
                checkpoint()
                hvd.join()
                return 0
            augment = Augmentation.draw(
                seed=config.seed,
                step=step,
                global_batch=global_batch,
                rank=rank,
                world_size=size,
                generator=augment_generator,
            )
            images, labels = train_data.augmented_batch(plan.rank_batch(order, step_in_epoch, rank), augment)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
                loss = F.cross_entropy(model(images).float(), labels, label_smoothing=config.label_smoothing)
            # Horovod's DistributedOptimizer.zero_grad() takes no arguments; torch >= 2.0's default
            # (set_to_none=True) applies.
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach()
            loss_count += 1
            step += 1
            if config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0:
                checkpoint()
        train_loss = hvd.allreduce(loss_sum / max(1, loss_count), name=f"loss.{epoch}").item()
        rate = loss_count * global_batch / max(1e-9, time.perf_counter() - started)
        val_acc = None
        if test_data is not None:
            model.eval()
            correct = torch.zeros((), device=device, dtype=torch.float64)
            with torch.no_grad():
                for chunk in torch.arange(rank, len(test_data), size).split(1024):
                    images, labels = test_data.batch(chunk)
                    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
                        correct += (model(images).argmax(1) == labels).sum()
            model.train()
            val_acc = hvd.allreduce(correct, op=hvd.Sum, name=f"correct.{epoch}").item() / len(test_data)
        log.metrics(epoch=epoch + 1, step=step, train_loss=train_loss, val_acc=val_acc, samples_per_sec=rate)
    vote.drain()

    flat = torch.cat([p.detach().float().flatten().cpu() for p in model.parameters()])
    divergence = hvd.allreduce((flat - hvd.broadcast(flat, root_rank=0)).abs().max(), op=hvd.Max).item()
    log(f"replicas_in_sync={divergence == 0.0} max_param_divergence={divergence:.3g} workers={size}")
    if rank == 0:
        save_model(model, model_config, sm.model_dir)
        package_inference_code(sm.model_dir)  # code/inference.py for SageMaker hosting
        log(f"saved {sm.model_dir / 'model.pt'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_failure(main, SageMakerEnv.from_environ().failure_file))
