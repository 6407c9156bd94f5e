"""train_ddp.py as the ddp image runs it: two ranks under torchrun and under mpirun, and a spot-style
SIGTERM followed by a resume. Tiny data and model; CPU with gloo."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from common.cifar_format import load_split
from common.cifar_model import load_model

pytestmark = pytest.mark.slow

HYPERPARAMETERS = {
    "epochs": 4,
    "batch_size": 32,
    "width": 8,
    "lr": 0.1,
    "seed": 3,
    "deterministic": True,
    "checkpoint_every_steps": 8,
}
STEPS = 4 * 512 // 32
METRIC = re.compile(
    r"^epoch=(\d+) step=(\d+) train_loss=([0-9.]+) val_acc=([0-9.]+) samples_per_sec=\d+$", re.M
)
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


@dataclass(frozen=True)
class Run:
    base: Path
    returncode: int
    log: str


def torchrun_cmd(code: Path, port: int, *extra: str) -> list[str]:
    return [
        TORCHRUN,
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        *extra,
        str(code / "train_ddp.py"),
    ]


def model_state(base: Path) -> dict[str, torch.Tensor]:
    return torch.load(base / "model" / "model.pt", weights_only=True)


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name].float(), b[name].float(), rtol=0, atol=1e-6), name


@pytest.fixture(scope="session")
def torchrun_run(
    harness: SimpleNamespace, ddp_code: Path, cifar_batches: Path, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """The uninterrupted reference run: 2 ranks under torchrun, per-rank logs kept apart."""
    base = tmp_path_factory.mktemp("torchrun") / "ml"
    logs = base.parent / "rank_logs"
    env = harness.job_env(base, {"train": cifar_batches}, HYPERPARAMETERS)
    cmd = torchrun_cmd(ddp_code, harness.free_port(), "--log-dir", str(logs), "--redirects", "3")
    proc = subprocess.run(cmd, env=env, cwd=ddp_code, capture_output=True, text=True, timeout=300)
    rank_logs = {int(p.parent.name): p.read_text() for p in logs.rglob("stdout.log")}
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n".join(rank_logs.values())
    (base.parent / "rank1.log").write_text(rank_logs[1])
    return Run(base, proc.returncode, rank_logs[0])


def test_torchrun_two_ranks_learn_and_stay_in_sync(torchrun_run: Run, cifar_batches: Path) -> None:
    metrics = [
        (int(e), int(s), float(loss), float(acc)) for e, s, loss, acc in METRIC.findall(torchrun_run.log)
    ]
    assert [(e, s) for e, s, _, _ in metrics] == [(1, 16), (2, 32), (3, 48), (4, 64)]
    assert metrics[-1][2] < metrics[0][2] - 0.2, metrics  # the training loss went down
    assert "launcher=torchrun world_size=2" in torchrun_run.log
    assert "replicas_in_sync=True max_param_divergence=0 ranks=2" in torchrun_run.log

    model = load_model(torchrun_run.base / "model")
    test = load_split(cifar_batches, "test")
    assert test is not None
    with torch.no_grad():
        x = torch.from_numpy(test.images).float() / 255
        mean, std = (
            torch.tensor(model.config.mean).view(1, 3, 1, 1),
            torch.tensor(model.config.std).view(1, 3, 1, 1),
        )
        predicted = model((x - mean) / std).argmax(1)
    accuracy = (predicted == torch.from_numpy(test.labels)).float().mean().item()
    assert accuracy > 0.3, accuracy  # chance is 0.1


def test_only_rank0_prints_metrics_and_writes(torchrun_run: Run) -> None:
    rank1 = (torchrun_run.base.parent / "rank1.log").read_text()
    assert METRIC.search(torchrun_run.log)
    assert rank1.strip() == "", rank1
    checkpoints = sorted(p.name for p in (torchrun_run.base / "checkpoints").iterdir())
    assert checkpoints == ["step-000000056.ckpt", "step-000000064.ckpt"]  # every 8 steps, newest 2 kept
    assert sorted(p.name for p in (torchrun_run.base / "model").iterdir()) == [
        "code",  # inference.py + cifar_model.py for SageMaker hosting (tests/serving)
        "model.pt",
        "model_config.json",
    ]


def test_mpirun_ranks_match_torchrun_and_only_rank0_writes(
    harness: SimpleNamespace, ddp_code: Path, cifar_npz: Path, torchrun_run: Run, tmp_path: Path
) -> None:
    """SageMaker's pytorchddp launch: Open MPI starts the ranks. Each rank gets its own base dir
    (MPMD), so anything rank 1 wrote would show; the npz channel must give the same weights as the
    python batches under torchrun."""
    env = harness.job_env(tmp_path / "unused", {"train": cifar_npz}, HYPERPARAMETERS)
    for name in ("SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR", "SAGEMAKER_BASE_DIR"):
        env.pop(name)
    port = str(harness.free_port())
    per_rank = []
    for rank in range(2):
        per_rank += [":"] if rank else []
        per_rank += [
            "-np",
            "1",
            "-x",
            f"SAGEMAKER_BASE_DIR={tmp_path / f'rank{rank}'}",
            "-x",
            f"MASTER_PORT={port}",
            sys.executable,
            str(ddp_code / "train_ddp.py"),
        ]
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", *per_rank]
    proc = subprocess.run(cmd, env=env, cwd=ddp_code, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "launcher=mpirun world_size=2" in proc.stdout
    assert len(METRIC.findall(proc.stdout)) == 4  # one line per epoch: rank 1 printed none
    assert "replicas_in_sync=True" in proc.stdout
    assert_same_weights(model_state(tmp_path / "rank0"), model_state(torchrun_run.base))
    rank1_files = [p for p in (tmp_path / "rank1").rglob("*") if p.is_file()]
    assert rank1_files == []


def test_sigterm_checkpoints_and_the_resumed_run_ends_with_the_uninterrupted_weights(
    harness: SimpleNamespace, ddp_code: Path, cifar_batches: Path, torchrun_run: Run, tmp_path: Path
) -> None:
    base = tmp_path / "ml"
    env = harness.job_env(base, {"train": cifar_batches}, HYPERPARAMETERS)
    checkpoints = base / "checkpoints"

    first = subprocess.Popen(
        torchrun_cmd(ddp_code, harness.free_port()),
        env=env,
        cwd=ddp_code,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not list(checkpoints.glob("step-*.ckpt")):
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGTERM)  # what SageMaker does at a spot interruption
    first_log = first.communicate(timeout=120)[0]
    stopped = re.search(r"SIGTERM: stopping at step (\d+)", first_log)
    assert stopped, first_log
    stop_step = int(stopped.group(1))
    assert 8 <= stop_step < STEPS
    assert (checkpoints / f"step-{stop_step:09d}.ckpt").is_file()
    assert not (base / "model" / "model.pt").exists()  # an interrupted run leaves no final model

    second = subprocess.run(
        torchrun_cmd(ddp_code, harness.free_port()),
        env=env,
        cwd=ddp_code,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resumed from step {stop_step} (checkpoint step-{stop_step:09d}.ckpt" in second.stdout
    epochs_logged = [int(e) for e, *_ in METRIC.findall(second.stdout)]
    assert epochs_logged == list(range(stop_step // 16 + 1, 5))
    assert_same_weights(model_state(base), model_state(torchrun_run.base))


def test_a_crash_leaves_the_failure_file(harness: SimpleNamespace, ddp_code: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty_channel"
    empty.mkdir()
    env = harness.job_env(tmp_path / "ml", {"train": empty}, {"epochs": 1})
    proc = subprocess.run(
        [sys.executable, str(ddp_code / "train_ddp.py")],
        env=env,
        cwd=ddp_code,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    failure = (tmp_path / "ml" / "output" / "failure").read_text()
    assert failure.splitlines()[0].startswith("FileNotFoundError: channel train:")
    assert "holds no CIFAR-10 training data" in failure.splitlines()[0]
