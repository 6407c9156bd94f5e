"""Which launcher started this process, and this process's place in the job.

torchrun (SageMaker's ``torch_distributed``) exports RANK/WORLD_SIZE/LOCAL_RANK/MASTER_*; mpirun
(SageMaker's ``pytorchddp`` and Horovod) exports Open MPI's OMPI_COMM_WORLD_*; a plain ``python
script.py`` is a job of one. Framework-free, so the PyTorch and the TensorFlow scripts share it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from common.sagemaker_env import ContractError, SageMakerEnv

DEFAULT_MASTER_PORT = 29500


@dataclass(frozen=True)
class RankInfo:
    launcher: str  # "torchrun" | "mpirun" | "single"
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    master_addr: str
    master_port: int

    @property
    def is_rank0(self) -> bool:
        return self.rank == 0


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError as exc:
        raise ContractError(name, env[name], "must be an integer") from exc


def _master_addr(env: Mapping[str, str], sm: SageMakerEnv) -> str:
    # An explicit MASTER_ADDR (mpirun -x, local mode) wins; then what SageMaker's launchers set;
    # then the first host, which SageMaker's DNS resolves inside a job. A job on one host needs
    # no name resolution at all.
    if env.get("MASTER_ADDR"):
        return env["MASTER_ADDR"]
    if sm.master_addr:
        return sm.master_addr
    if len(sm.hosts) > 1:
        return sm.hosts[0]
    return "127.0.0.1"


def _master_port(env: Mapping[str, str]) -> int:
    for name in ("MASTER_PORT", "SM_MASTER_PORT"):
        if env.get(name):
            return _int(env, name)
    return DEFAULT_MASTER_PORT


def detect_rank_info(sm: SageMakerEnv, environ: Mapping[str, str] | None = None) -> RankInfo:
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        world = _int(env, "WORLD_SIZE")
        return RankInfo(
            launcher="torchrun",
            rank=_int(env, "RANK"),
            world_size=world,
            local_rank=_int(env, "LOCAL_RANK") if "LOCAL_RANK" in env else 0,
            local_world_size=_int(env, "LOCAL_WORLD_SIZE") if "LOCAL_WORLD_SIZE" in env else world,
            master_addr=env.get("MASTER_ADDR") or _master_addr(env, sm),
            master_port=_master_port(env),
        )
    if "OMPI_COMM_WORLD_RANK" in env:
        return RankInfo(
            launcher="mpirun",
            rank=_int(env, "OMPI_COMM_WORLD_RANK"),
            world_size=_int(env, "OMPI_COMM_WORLD_SIZE"),
            local_rank=_int(env, "OMPI_COMM_WORLD_LOCAL_RANK"),
            local_world_size=_int(env, "OMPI_COMM_WORLD_LOCAL_SIZE"),
            master_addr=_master_addr(env, sm),
            master_port=_master_port(env),
        )
    return RankInfo("single", 0, 1, 0, 1, "127.0.0.1", _master_port(env))
