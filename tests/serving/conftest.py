"""Fixtures for the serving tests: a model.tar.gz from the real trainer, and small model folders.

The trained model comes from `dtrain local` running the packaged DDP trainer (examples/
ddp_torchrun.json, one host, a few steps on the tiny CIFAR-10 sample; made once per session and
shared with every worker, tests/example_runs.py), so its archive is what a
SageMaker training job of the bundled trainer leaves: model.pt, model_config.json, code/.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.local.config import repo_root, training_code_dir
from dtrain.serving import ServerHandle, start_server
from dtrain.serving.archive import unpack_model
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
    run = example_runs.run(REPO / "examples" / "ddp_torchrun.json")
    assert run.code == 0, run.stderr[-3000:]
    return run.archive


@pytest.fixture(scope="session")
def trained_model_dir(trained_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive unpacked as `dtrain serve` unpacks it (unpack_model)."""
    return unpack_model(str(trained_archive), tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="session")
def trained_server(trained_model_dir: Path) -> Iterator[ServerHandle]:
    """The trained model behind TorchServe (SageMaker's PyTorch toolkit) with one worker, on a free
    port: one server for the session's tests (a JVM start costs seconds). The tests that use it are
    marked xdist_group("trained-server"): they run on one xdist worker, so it starts once in the
    run. Each file its own group (tests/conftest.py), each worker that ran one of them started one
    (~4 CPU-s: the JVM, the toolkit, a worker importing torch)."""
    with start_server(trained_model_dir, port=0, workers=1) as handle:
        yield handle
