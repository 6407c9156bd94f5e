"""train_ddp.Trainer in one process on the CPU: the prewarm step before the first epoch leaves no
trace, and the time to the first step is recorded."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from common.cifar_train_config import TrainConfig, set_determinism
from common.launcher_env import detect_rank_info
from common.metrics import RankZeroLog
from common.sagemaker_env import SageMakerEnv
from common.stop_signal import StopRequest
from common.torch_distributed import StopAgreement, init_distributed

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training_code" / "ddp"))
from train_ddp import Trainer

# Three steps: any trace the prewarm left (a gradient the first optimizer step applies, batch-norm
# statistics it moved) already shows in the bit-for-bit comparison after the first step. Two full
# epochs (16 steps) made the test 50-85 s on 2 cores for nothing more.
HYPERPARAMETERS = {
    "epochs": 1, "max_steps": 3, "batch_size": 64, "width": 8, "seed": 5, "checkpoint_every_steps": 0,
}  # fmt: skip


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The trainer runs here as the one rank of a job, with the thread a rank gets (job_env's
    OMP_NUM_THREADS=1), not one per core of the pytest process: on 2 shared cores a second
    intra-op thread only waited for a core (~35% of this file's CPU, 8.9 -> 5.7 CPU-s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)  # the pytest process's other tests keep theirs


def train(harness: SimpleNamespace, data: Path, base: Path, **extra: object) -> tuple[Trainer, float | None]:
    sm = SageMakerEnv.from_environ(harness.job_env(base, {"train": data}, {**HYPERPARAMETERS, **extra}))
    config = TrainConfig.from_hyperparameters(sm.hyperparameters)
    set_determinism(config)
    ctx = init_distributed(detect_rank_info(sm, {}), sm)
    trainer = Trainer(sm, config, ctx, RankZeroLog(0))
    assert trainer.run(StopAgreement(ctx, StopRequest()))
    return trainer, trainer.evaluate()


def test_prewarm_leaves_the_weights_statistics_and_accuracy_as_without_it(
    harness: SimpleNamespace, cifar_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, plain_acc = train(harness, cifar_npz, tmp_path / "plain", prewarm=False)
    warmed, warmed_acc = train(harness, cifar_npz, tmp_path / "warmed", prewarm=True)
    out = capsys.readouterr().out
    assert out.count("prewarm: ") == 1, out  # it ran once, in the second run only
    # Batch-norm running statistics included: the prewarm forward pass moves them, then they are put back.
    a, b = plain.model.state_dict(), warmed.model.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert plain_acc == warmed_acc
    assert warmed.first_step_s is not None and warmed.first_step_s > 0
    assert out.count("first step done") == 2


def test_a_compiled_evaluation_of_no_test_images_counts_zero(
    harness: SimpleNamespace, cifar_npz: Path, tmp_path: Path
) -> None:
    # A rank of a world larger than the test set gets no test images: its chunk is empty, and
    # padding an empty chunk to EVAL_CHUNK (compile=true) raised before any image was looked at.
    channels = {"train": cifar_npz, "test": cifar_npz}
    sm = SageMakerEnv.from_environ(harness.job_env(tmp_path, channels, {**HYPERPARAMETERS, "compile": True}))
    config = TrainConfig.from_hyperparameters(sm.hyperparameters)
    ctx = init_distributed(detect_rank_info(sm, {}), sm)
    trainer = Trainer(sm, config, ctx, RankZeroLog(0))
    no_images = torch.arange(0, device=ctx.device)
    assert int(trainer._correct(no_images)) == 0
