"""CIFAR data held on the device as uint8, batched and augmented there (no DataLoader workers).

Sharding is the DistributedSampler's, computed rather than sampled: epoch ``e`` orders the set by
``randperm(N, generator=seed + e)``, pads it to a multiple of the world size with its own head, and
rank ``r`` takes every ``world``-th index from ``r``. A global batch of B = b * world consecutive
entries of that order holds, at the positions of rank ``r``, exactly the b indices the sampler would
give rank ``r`` for that batch; so the position in the data is one number (the global step) and a
run may resume on another world size. Augmentation (flip + translate by up to 2 px, as airbench) is
drawn per global batch from a generator seeded by (seed, step), so a resumed run draws the same.

Nothing in a step crosses from the host to the device: the epoch's order is moved once per epoch
and the augmentation is drawn by a generator on the device. A pageable host-to-device copy makes
the host wait for the device stream, so one per step would stop the host from queuing the next
step's kernels while the device runs this one (on a GPU that cost ~20 % of the rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from common.cifar_format import CifarSplit


def epoch_order(num_samples: int, world_size: int, *, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(num_samples, generator=generator)
    total = -(-num_samples // world_size) * world_size
    if total > num_samples:
        order = torch.cat([order, order[: total - num_samples]])
    return order


def shard_indices(num_samples: int, world_size: int, rank: int, *, seed: int, epoch: int) -> torch.Tensor:
    """The indices DistributedSampler(shuffle=True, drop_last=False) yields for ``rank``."""
    return epoch_order(num_samples, world_size, seed=seed, epoch=epoch)[rank::world_size]


@dataclass(frozen=True)
class BatchPlan:
    """How one epoch splits into global batches of ``global_batch`` samples."""

    num_samples: int
    world_size: int
    global_batch: int

    @property
    def padded_size(self) -> int:
        return -(-self.num_samples // self.world_size) * self.world_size

    @property
    def steps_per_epoch(self) -> int:
        # A trailing partial global batch is dropped so every step has the same size on every rank;
        # a set smaller than one batch is one step over the whole (padded) set.
        return max(1, self.padded_size // self.global_batch)

    def rank_batch(self, order: torch.Tensor, step_in_epoch: int, rank: int) -> torch.Tensor:
        start = step_in_epoch * self.global_batch
        batch = order[start : start + self.global_batch]
        return batch[rank :: self.world_size]


class DeviceImages:
    """One split as uint8 [N, 3, 32, 32] on the device, plus normalisation constants."""

    def __init__(
        self,
        split: CifarSplit,
        device: torch.device,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        *,
        channels_last: bool,
    ) -> None:
        self.images = torch.from_numpy(split.images).to(device)
        self.labels = torch.from_numpy(split.labels).to(device)
        self.device = device
        self.channels_last = channels_last
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = index.to(self.device, non_blocking=True)
        return self.normalise(self.images[index]), self.labels[index]

    def augmented_batch(
        self, index: torch.Tensor, augment: Augmentation
    ) -> tuple[torch.Tensor, torch.Tensor]:
        index = index.to(self.device, non_blocking=True)
        return self.normalise(augment.apply(self.images[index])), self.labels[index]


@dataclass(frozen=True)
class Augmentation:
    """Per-image flip and translation, already drawn for this rank's part of a global batch."""

    flip: torch.Tensor  # bool [b]
    shift_y: torch.Tensor  # long [b], 0..2*pad
    shift_x: torch.Tensor
    pad: int

    @classmethod
    def draw(
        cls,
        *,
        seed: int,
        step: int,
        global_batch: int,
        rank: int,
        world_size: int,
        generator: torch.Generator,
        pad: int = 2,
    ) -> Augmentation:
        """Drawn for the whole global batch (a few bytes per image), then this rank's part is taken:
        the same for every world size and after a resume. ``generator`` (reseeded here) says on
        which device: one on the data's device keeps the step free of host-to-device copies; a
        CPU and a CUDA generator draw different numbers, so equality holds per device type. It
        has no default: a CPU default drew on the host beside a GPU's data (a copy every step)."""
        generator.manual_seed(seed * 1_000_003 + step)
        device = generator.device
        flip = torch.rand(global_batch, generator=generator, device=device) < 0.5
        shifts = torch.randint(0, 2 * pad + 1, (2, global_batch), generator=generator, device=device)
        part = slice(rank, None, world_size)
        return cls(flip[part], shifts[0][part], shifts[1][part], pad)

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        count, _, height, width = images.shape
        device = images.device
        flip = self.flip[:count].to(device)  # a no-op when drawn on the images' device
        images = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
        if self.pad == 0:
            return images
        # Translate = reflect-pad, then pick 32 rows and 32 columns per image: two gathers with
        # per-image offsets (a third of the time of one 4-index advanced-indexing gather on CPU).
        pad = self.pad
        channels = images.shape[1]
        padded = torch.nn.functional.pad(images, (pad,) * 4, mode="reflect")
        rows = self.shift_y[:count].to(device).view(-1, 1) + torch.arange(height, device=device)
        rows = rows.view(count, 1, height, 1).expand(count, channels, height, width + 2 * pad)
        cols = self.shift_x[:count].to(device).view(-1, 1) + torch.arange(width, device=device)
        cols = cols.view(count, 1, 1, width).expand(count, channels, height, width)
        return padded.gather(2, rows).gather(3, cols)
