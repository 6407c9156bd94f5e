"""The PyTorch process group, set up from whichever launcher started the process.

NCCL on GPUs, gloo on CPUs. Rendezvous goes through a TCP store at MASTER_ADDR:MASTER_PORT, the same
for torchrun and mpirun, so one code path serves SageMaker's ``torch_distributed`` and ``pytorchddp``.
A second, gloo group carries the small control messages (the stop flag) on the CPU, so asking
"did any rank get SIGTERM?" never waits on the GPU stream.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from common.launcher_env import RankInfo
from common.sagemaker_env import SageMakerEnv
from common.stop_signal import StopRequest


@dataclass(frozen=True)
class DistContext:
    info: RankInfo
    device: torch.device
    backend: str | None  # None: a job of one process, no process group
    control_group: dist.ProcessGroup | None

    @property
    def rank(self) -> int:
        return self.info.rank

    @property
    def world_size(self) -> int:
        return self.info.world_size

    @property
    def is_rank0(self) -> bool:
        return self.info.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None

    def barrier(self) -> None:
        if self.control_group is not None:
            dist.barrier(group=self.control_group)


def _use_cuda(sm: SageMakerEnv) -> bool:
    if sm.num_gpus == 0:
        return False
    return torch.cuda.is_available()


def init_distributed(info: RankInfo, sm: SageMakerEnv, *, timeout_s: int = 1800) -> DistContext:
    cuda = _use_cuda(sm)
    if cuda:
        device = torch.device("cuda", info.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        if info.launcher == "mpirun" and "OMP_NUM_THREADS" not in os.environ:
            # torchrun gives each of several local workers one thread; mpirun leaves every rank
            # the whole machine, and ranks fighting over cores run slower than one thread each.
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, info.local_world_size)))
    if info.world_size == 1:
        return DistContext(info, device, None, None)

    backend = "nccl" if cuda else "gloo"
    # torch.distributed and NCCL read MASTER_* from the environment in places (e.g. sub-groups
    # created by libraries); make mpirun-started processes look like torchrun-started ones.
    os.environ.setdefault("MASTER_ADDR", info.master_addr)
    os.environ.setdefault("MASTER_PORT", str(info.master_port))
    os.environ.setdefault("RANK", str(info.rank))
    os.environ.setdefault("WORLD_SIZE", str(info.world_size))
    os.environ.setdefault("LOCAL_RANK", str(info.local_rank))
    dist.init_process_group(
        backend=backend,
        init_method=f"tcp://{info.master_addr}:{info.master_port}",
        rank=info.rank,
        world_size=info.world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
        device_id=device if cuda else None,
    )
    control = dist.new_group(backend="gloo") if backend != "gloo" else dist.group.WORLD
    return DistContext(info, device, backend, control)


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


class StopAgreement:
    """Turns a SIGTERM seen by any rank into the same stop step on every rank.

    Each step every rank contributes its local flag to an asynchronous MAX all-reduce and reads the
    previous step's result, so the answer arrives one step late but never stalls a step.
    """

    def __init__(self, ctx: DistContext, stop: StopRequest) -> None:
        self.ctx = ctx
        self.stop = stop
        self._pending: tuple[dist.Work, torch.Tensor] | None = None

    def should_stop(self) -> bool:
        if not self.ctx.distributed:
            return self.stop.requested
        decided = False
        if self._pending is not None:
            work, flag = self._pending
            work.wait()
            decided = bool(flag.item())
        flag = torch.tensor([1 if self.stop.requested else 0], dtype=torch.int32)
        work = dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.ctx.control_group, async_op=True)
        assert work is not None
        self._pending = (work, flag)
        return decided

    def drain(self) -> None:
        """Completes the collective still in flight, so every rank leaves with the same count."""
        if self._pending is not None:
            self._pending[0].wait()
            self._pending = None


def max_replica_divergence(model: torch.nn.Module, ctx: DistContext) -> float:
    """Largest difference between any rank's parameters and rank 0's; 0.0 when the replicas agree.

    Run once at the end of training: DDP keeps the replicas equal by construction, and this says
    so in the log (a diverged replica means a bug or a hardware fault, not noise).
    """
    if not ctx.distributed:
        return 0.0
    local = torch.cat([p.detach().float().flatten().cpu() for p in model.parameters()])
    reference = local.clone()
    dist.broadcast(reference, src=0, group=ctx.control_group)
    diff = (local - reference).abs().max().reshape(1)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX, group=ctx.control_group)
    return float(diff.item())
