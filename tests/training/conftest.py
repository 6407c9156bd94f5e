"""Fixtures for the training-code tests: tiny CIFAR-format data and image-shaped code folders.

The scripts run from a folder laid out as the images lay out /opt/ml/code (the image's scripts plus
``common/``), with a fresh SAGEMAKER_BASE_DIR each, exactly as local mode runs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import IO, Any

import pytest

from dtrain.ports import free_port

REPO = Path(__file__).resolve().parents[2]
TRAINING_CODE = REPO / "training_code"
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"
TRAIN_SAMPLES, TEST_SAMPLES = 512, 128

# The training package is importable in-process for unit tests, as ``common``.
if str(TRAINING_CODE) not in sys.path:
    sys.path.insert(0, str(TRAINING_CODE))


def load_prepare_module() -> ModuleType:
    path = TRAINING_CODE / "data" / "prepare_cifar10.py"
    spec = importlib.util.spec_from_file_location("prepare_cifar10", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_code_dir(image: str, destination: Path) -> Path:
    """/opt/ml/code of the ``image`` image: its scripts plus the shared ``common`` package."""
    shutil.copytree(
        TRAINING_CODE / image, destination, ignore=shutil.ignore_patterns("Dockerfile", "__pycache__")
    )
    shutil.copytree(
        TRAINING_CODE / "common", destination / "common", ignore=shutil.ignore_patterns("__pycache__")
    )
    return destination


def job_env(
    base_dir: Path, channels: Mapping[str, Path], hyperparameters: Mapping[str, object], **extra: str
) -> dict[str, str]:
    """The environment the SageMaker toolkit gives a training script, rooted at ``base_dir``."""
    # Not an enclosing MPI job's variables; Open MPI's yield setting (tests/conftest.py) stays.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SM_", "OMPI_", "PMIX_")) or k == "OMPI_MCA_mpi_yield_when_idle"
    }
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SAGEMAKER_BASE_DIR"):
        env.pop(name, None)
    env.update(
        {
            "SAGEMAKER_BASE_DIR": str(base_dir),
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_CURRENT_HOST": "algo-1",
            "SM_NUM_GPUS": "0",
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps(dict(hyperparameters)),
            "SM_MODEL_DIR": str(base_dir / "model"),
            "SM_OUTPUT_DATA_DIR": str(base_dir / "output" / "data"),
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
        }
    )
    for name, path in channels.items():
        env[f"SM_CHANNEL_{name.upper()}"] = str(path)
    env.update(extra)
    return env


def wait_chains(
    chains: Sequence[subprocess.Popen[Any]], logs: Sequence[IO[str]], timeout: float = 240
) -> list[int]:
    """Each host's entry chain's exit code, in order; a chain still running when the wait ends
    (timeout, or a failed wait) is killed with its process group, and every log is closed."""
    try:
        return [chain.wait(timeout=timeout) for chain in chains]
    finally:
        for chain in chains:
            if chain.poll() is None:
                os.killpg(chain.pid, signal.SIGKILL)
                chain.wait()
        for log in logs:
            log.close()


@pytest.fixture(scope="session")
def cifar_batches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A learnable synthetic set in the real CIFAR-10 python-batch format."""
    directory = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
    prepare = load_prepare_module()
    assert (
        prepare.main(["synth", str(directory), "--train", str(TRAIN_SAMPLES), "--test", str(TEST_SAMPLES)])
        == 0
    )
    return directory


@pytest.fixture(scope="session")
def cifar_npz(cifar_batches: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cifar_npz")
    assert load_prepare_module().main(["npz", str(cifar_batches), str(directory)]) == 0
    return directory


@pytest.fixture(scope="session")
def ddp_code(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_code_dir("ddp", tmp_path_factory.mktemp("ddp") / "code")


@pytest.fixture(scope="session")
def harness() -> SimpleNamespace:
    """The helpers above, for test modules (importlib mode: tests cannot import conftest)."""
    return SimpleNamespace(
        repo=REPO,
        training_code=TRAINING_CODE,
        hvd_python=HVD_PYTHON,
        train_samples=TRAIN_SAMPLES,
        test_samples=TEST_SAMPLES,
        prepare=load_prepare_module(),
        free_port=free_port,
        make_code_dir=make_code_dir,
        job_env=job_env,
        wait_chains=wait_chains,
    )
