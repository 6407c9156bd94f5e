"""Fixtures for the serving tests: a model.tar.gz from the real trainer, and small model folders.

The trained model comes from `dtrain local` running the packaged DDP trainer (examples/
ddp_torchrun.json, one host, a few steps on the tiny CIFAR-10 sample; made once per session and
shared with every worker, tests/example_runs.py), so its archive is what a
SageMaker training job of the bundled trainer leaves: model.pt, model_config.json, code/.
"""

from __future__ import annotations

import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.local.config import repo_root, training_code_dir
from dtrain.serving import ServerHandle, start_server
from tests.example_runs import ExampleRuns

REPO = repo_root()

# The trainer's model class, importable here to compute what the server should answer.
if str(training_code_dir()) not in sys.path:
    sys.path.insert(0, str(training_code_dir()))


@pytest.fixture(scope="session")
def trained_archive(example_runs: ExampleRuns) -> Path:
    """model.tar.gz of the packaged DDP trainer, trained through `dtrain local`: the session's one
    run (tests/example_runs.py), so the serving files on both xdist workers share it instead of
    each worker training it again (35-45 s a run on 2 cores)."""
    run = example_runs.run(REPO / "examples" / "ddp_torchrun.json", hosts=1)
    assert run.code == 0, run.stderr[-3000:]
    return run.archive


@pytest.fixture(scope="session")
def trained_model_dir(trained_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    with tarfile.open(trained_archive) as tar:
        tar.extractall(directory, filter="data")
    return directory


@pytest.fixture(scope="session")
def trained_server(trained_model_dir: Path) -> Iterator[ServerHandle]:
    """The trained model behind TorchServe (SageMaker's PyTorch toolkit) with one worker, on a free
    port: one server for the session's tests (a JVM start costs seconds)."""
    with start_server(trained_model_dir, port=0, workers=1) as handle:
        yield handle
