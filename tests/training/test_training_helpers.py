"""The framework-free and PyTorch helpers the trainers share: checkpoints, sharding, augmentation,
metric lines, the failure file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from common.checkpoints import CheckpointStore
from common.device_data import Augmentation, BatchPlan, epoch_order, shard_indices
from common.failure import run_reporting_failure
from common.metrics import format_metric_line
from common.torch_checkpoint import apply_training_state, read_newest_state, save_training_state
from torch.utils.data.distributed import DistributedSampler

# dtrain's default metric definitions (interfaces: dtrain/jobspec/metrics.py), which the line must satisfy.
DEFAULT_METRIC_REGEXES = {
    "train:loss": r"train_loss=([0-9.eE+-]+)",
    "validation:accuracy": r"val_acc=([0-9.eE+-]+)",
    "train:throughput": r"samples_per_sec=([0-9.eE+-]+)",
    "epoch": r"epoch=([0-9]+)",
    "step": r"step=([0-9]+)",
}


def test_metric_line_is_matched_by_every_default_metric_definition() -> None:
    line = format_metric_line(epoch=3, step=1200, train_loss=0.41234, val_acc=0.9012, samples_per_sec=48211.4)
    assert line == "epoch=3 step=1200 train_loss=0.4123 val_acc=0.9012 samples_per_sec=48211"
    found = {name: re.search(regex, line).group(1) for name, regex in DEFAULT_METRIC_REGEXES.items()}  # type: ignore[union-attr]
    assert found == {
        "train:loss": "0.4123",
        "validation:accuracy": "0.9012",
        "train:throughput": "48211",
        "epoch": "3",
        "step": "1200",
    }


@pytest.mark.parametrize(("num_samples", "world_size"), [(10, 1), (10, 3), (17, 4), (5, 8)])
def test_sharding_equals_distributed_sampler(num_samples: int, world_size: int) -> None:
    dataset = list(range(num_samples))
    for epoch in (0, 3):
        for rank in range(world_size):
            sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=5)
            sampler.set_epoch(epoch)
            ours = shard_indices(num_samples, world_size, rank, seed=5, epoch=epoch)
            assert ours.tolist() == list(sampler)


def test_rank_batches_are_the_sampler_shard_cut_into_per_rank_batches() -> None:
    plan = BatchPlan(num_samples=50, world_size=2, global_batch=8)
    order = epoch_order(50, 2, seed=1, epoch=2)
    for rank in range(2):
        shard = shard_indices(50, 2, rank, seed=1, epoch=2)
        batches = torch.cat([plan.rank_batch(order, s, rank) for s in range(plan.steps_per_epoch)])
        assert batches.tolist() == shard[: plan.steps_per_epoch * 4].tolist()
    assert plan.steps_per_epoch == 6  # the trailing partial batch is dropped


def test_augmentation_is_a_function_of_seed_and_step() -> None:
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    cpu = torch.Generator()
    first = Augmentation.draw(seed=1, step=4, global_batch=16, rank=1, world_size=2, generator=cpu)
    again = Augmentation.draw(seed=1, step=4, global_batch=16, rank=1, world_size=2, generator=cpu)
    other = Augmentation.draw(seed=1, step=5, global_batch=16, rank=1, world_size=2, generator=cpu)
    out = first.apply(images)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert torch.equal(out, again.apply(images))
    assert not torch.equal(out, other.apply(images))
    # no shift, forced flip: exactly a mirror image
    mirror = Augmentation(torch.ones(8, dtype=torch.bool), torch.full((8,), 2), torch.full((8,), 2), pad=2)
    assert torch.equal(mirror.apply(images), images.flip(3))


def test_checkpoint_store_ignores_partial_files_and_keeps_the_newest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpt", keep=2)
    assert store.newest() is None
    for step in (10, 20, 30):
        store.save(step, lambda path, step=step: path.write_text(str(step)))
    # a write that died half-way leaves only a hidden temporary file, never a final name
    (tmp_path / "ckpt" / ".step-000000040.ckpt.tmp-123").write_text("partial")
    assert [step for step, _ in store.complete()] == [20, 30]
    newest = store.newest()
    assert newest is not None and newest[0] == 30 and newest[1].read_text() == "30"

    def crash(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.save(50, crash)
    assert [step for step, _ in store.complete()] == [20, 30]
    assert not list((tmp_path / "ckpt").glob(".step-000000050*"))


def _state(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_training_state_round_trip_and_fallback_past_a_corrupt_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=3)
    model, optimizer = _state(0)
    save_training_state(
        store,
        step=7,
        epoch=1,
        step_in_epoch=2,
        model=model,
        optimizer=optimizer,
        scheduler=None,
        scaler=None,
        extra={"steps_per_epoch": 5},
    )
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    store.path_for(9).write_bytes(b"truncated by a lost upload")  # newest name, unreadable content

    found = read_newest_state(store)
    assert found is not None
    path, payload = found
    assert path == store.path_for(7)
    fresh_model, fresh_optimizer = _state(1)
    resumed = apply_training_state(
        payload, path, model=fresh_model, optimizer=fresh_optimizer, scheduler=None, scaler=None
    )
    assert (resumed.step, resumed.epoch, resumed.step_in_epoch) == (7, 1, 2)
    for a, b in zip(model.parameters(), fresh_model.parameters(), strict=True):
        assert torch.equal(a, b)
    momentum = fresh_optimizer.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(momentum, optimizer.state_dict()["state"][0]["momentum_buffer"])
    # the RNG state saved with the checkpoint is back: the same numbers come out again
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), expected_draw)


def test_a_crash_writes_the_failure_file_with_the_error_first(tmp_path: Path) -> None:
    failure = tmp_path / "output" / "failure"

    def main() -> int:
        raise ValueError("train channel holds no data")

    with pytest.raises(ValueError):
        run_reporting_failure(main, failure)
    text = failure.read_text()
    assert text.splitlines()[0] == "ValueError: train channel holds no data"
    assert "Traceback" in text
    assert run_reporting_failure(lambda: 0, tmp_path / "other") == 0
    assert not (tmp_path / "other").exists()


def test_translation_crops_each_image_at_its_own_offset() -> None:
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    augment = Augmentation.draw(
        seed=9, step=0, global_batch=6, rank=0, world_size=1, generator=torch.Generator()
    )
    out = augment.apply(images)
    for i in range(6):
        image = images[i].flip(2) if augment.flip[i] else images[i]
        padded = torch.nn.functional.pad(image[None], (2, 2, 2, 2), mode="reflect")[0]
        y, x = int(augment.shift_y[i]), int(augment.shift_x[i])
        assert torch.equal(out[i], padded[:, y : y + 32, x : x + 32])


def test_a_reused_generator_is_reseeded_from_seed_and_step_at_each_draw() -> None:
    generator = torch.Generator()
    for step in (3, 4, 3):
        reused = Augmentation.draw(
            seed=2, step=step, global_batch=16, rank=0, world_size=2, generator=generator
        )
        fresh = Augmentation.draw(
            seed=2, step=step, global_batch=16, rank=0, world_size=2, generator=torch.Generator()
        )
        assert torch.equal(reused.flip, fresh.flip)
        assert torch.equal(reused.shift_y, fresh.shift_y) and torch.equal(reused.shift_x, fresh.shift_x)


def test_augmentation_names_its_device_every_trainer_passes_one() -> None:
    # A default CPU generator made every step on a GPU copy the draw host-to-device (the Horovod
    # trainer drew there): the generator is required, so a trainer names the data's device.
    with pytest.raises(TypeError, match="generator"):
        Augmentation.draw(seed=1, step=4, global_batch=16, rank=1, world_size=2)  # type: ignore[call-arg]


def test_the_keras_inference_code_refuses_scaled_float_pixels_as_the_pytorch_one(tmp_path: Path) -> None:
    # The PyTorch model's inference.py answered 0..1 floats with 400; the Keras one took them as
    # 0..255 pixels (a near-black image, a confident wrong answer).
    import importlib.util

    from common.model_code import package_keras_inference_code

    package_keras_inference_code(tmp_path, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    spec = importlib.util.spec_from_file_location("keras_inference_code", tmp_path / "code" / "inference.py")
    assert spec is not None and spec.loader is not None
    keras_code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(keras_code)
    # The handler is standard library only (the TF Serving image's Python has no numpy): nested lists.
    scaled = np.full((1, 32, 32, 3), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match=r"whole numbers in 0\.\.255"):
        keras_code.normalised_nhwc(*keras_code.flatten(scaled.tolist()))
    batch = keras_code.normalised_nhwc(*keras_code.flatten(np.round(scaled * 255).tolist()))
    assert np.asarray(batch).shape == (1, 32, 32, 3)
