"""The Horovod PyTorch trainer (train_hvd_torch.py) on two simulated hosts through `dtrain local`.

examples/horovod_torch.json as SageMaker's `mpi` distribution runs it: one mpirun, a rank per host,
in .venv-hvd, whose Horovod wheel is built with its torch extension (scripts/setup_horovod.sh,
patched for torch >= 2.1): the ranks learn and stay in sync, and only rank 0 saves model.pt.
SIGTERM and resume: tests/training/test_train_hvd_torch.py, as for the DDP trainer.
A .venv-hvd without horovod.torch fails these tests.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from dtrain.cli import main
from dtrain.local.config import repo_root

pytestmark = pytest.mark.slow

REPO = repo_root()
EXAMPLE = REPO / "examples" / "horovod_torch.json"
JOB = "dtrain-cifar10-horovod-torch"
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"
METRIC = re.compile(r"^epoch=(\d+) step=(\d+) train_loss=([0-9.]+)", re.M)
# 128 samples / global batch 16 = 8 steps an epoch.
EPOCHS, STEPS_PER_EPOCH = 5, 8
HPS = [f"epochs={EPOCHS}", "max_steps=40", "batch_size=16", "width=4", "lr=0.05", "checkpoint_every_steps=4"]


@dataclass
class Run:
    job_dir: Path
    logs: dict[str, str]


def _args(workdir: Path, data: Path) -> list[str]:
    args = ["local", str(EXAMPLE), "--workdir", str(workdir), "--no-live", "--hosts", "2"]
    args += ["--data", f"train={data}", "--data", f"test={data}"]
    for hp in HPS:
        args += ["--set", hp]
    return args


def _logs(job_dir: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in (job_dir / "logs").glob("algo-*.log")}


@pytest.fixture(scope="module")
def full_run(cifar_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    probe = subprocess.run([str(HVD_PYTHON), "-c", "import horovod.torch"], capture_output=True, text=True)
    assert probe.returncode == 0, f"make setup builds horovod.torch into .venv-hvd: {probe.stderr[-2000:]}"
    workdir = tmp_path_factory.mktemp("hvd-torch")
    code = main(_args(workdir, cifar_dir))
    job_dir = workdir / "jobs" / JOB
    logs = _logs(job_dir)
    assert code == 0, "\n".join(text[-3000:] for text in logs.values())
    return Run(job_dir, logs)


def test_two_ranks_learn_stay_in_sync_and_only_rank0_saves(full_run: Run) -> None:
    rank0, rank1 = full_run.logs["algo-1"], full_run.logs["algo-2"]
    assert "train_hvd_torch: size=2" in rank0
    metrics = [(int(e), int(s), float(loss)) for e, s, loss in METRIC.findall(rank0)]
    assert [s for _, s, _ in metrics] == [STEPS_PER_EPOCH * e for e in range(1, EPOCHS + 1)]
    assert metrics[-1][2] < metrics[0][2] - 0.05, metrics
    assert METRIC.findall(rank1) == []  # rank 0 alone prints the metric lines
    assert "replicas_in_sync=True max_param_divergence=0 workers=2" in rank0
    assert (full_run.job_dir / "algo-1" / "model" / "model.pt").is_file()
    assert not (full_run.job_dir / "algo-2" / "model" / "model.pt").exists()
