"""The model archive of every bundled trainer, served as its SageMaker image serves it and asked to predict.

DDP's archive is the session's (conftest.trained_archive, served by conftest.trained_server);
Horovod-PyTorch, Horovod-Keras, MultiWorkerMirrored and ParameterServer come from the session's one
`dtrain local` run of each example on the tiny CIFAR-10 sample (tests/example_runs.py: a few
steps; the runs tests/local/test_examples_local.py and the trainers' own files assert on,
horovod_torch and the TF strategies on two hosts): whichever test asks first trains it. Each
archive goes through `dtrain serve`'s path (unpack_model, start_server): the
PyTorch ones under TorchServe with SageMaker's PyTorch toolkit, the Keras ones under the TF Serving
image's Python service in front of TF Serving's REST API. Both kinds take the same uint8 images and
answer probabilities. Slow (a server start per trainer, and the training run when this file asks
for it first, 20-60 s each on 2 cores): the only test that serves what each trainer writes.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dtrain.local.config import repo_root
from dtrain.serving import ServerHandle, start_server
from dtrain.serving.archive import unpack_model
from tests.example_runs import ExampleRuns

pytestmark = [pytest.mark.slow, pytest.mark.horovod]
REPO = repo_root()
TRAINERS = {
    "horovod_torch": "pytorch",
    "horovod_keras": "tensorflow",
    "tf_multi_worker_mirrored": "tensorflow",
    "tf_parameter_server": "tensorflow",
}


def _predict_probabilities(archive: Path, scratch: Path, framework: str) -> np.ndarray:
    model_dir = unpack_model(str(archive), scratch)
    with start_server(model_dir, port=0, workers=1, log_file=scratch / "server.log") as server:
        assert server.framework == framework
        return _ask_probabilities(server)


def _ask_probabilities(server: ServerHandle) -> np.ndarray:
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    request = urllib.request.Request(
        f"{server.url}/invocations",
        data=json.dumps(images.tolist()).encode(),  # a bare list: both models take it
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as reply:
        assert reply.status == 200
        answer = json.loads(reply.read())
    # TorchServe's toolkit answers the list itself; the Keras handlers TF Serving's predictions.
    return np.array(answer["predictions"] if isinstance(answer, dict) else answer)


def _assert_probabilities(probabilities: np.ndarray) -> None:
    assert probabilities.shape == (2, 10)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)


# The session's trained_server is the DDP archive through the same path (conftest: unpack_model,
# then start_server with one worker): asked here, in its xdist group, instead of a server of its own.
@pytest.mark.xdist_group("trained-server")
def test_the_ddp_archive_is_served_and_answers(trained_server: ServerHandle) -> None:
    assert trained_server.framework == "pytorch"
    _assert_probabilities(_ask_probabilities(trained_server))


# In the reverse of test_examples_local's order: when the two files run at once on two xdist
# workers, each trains the runs the other asks for last, instead of one waiting on the other's lock.
@pytest.mark.parametrize("example", sorted(TRAINERS, reverse=True))
def test_each_trainers_archive_is_served_and_answers(
    example: str, example_runs: ExampleRuns, tmp_path: Path
) -> None:
    framework = TRAINERS[example]
    run = example_runs.run(REPO / "examples" / f"{example}.json")
    assert run.code == 0, run.stderr[-3000:]
    (tmp_path / "served").mkdir()
    _assert_probabilities(_predict_probabilities(run.archive, tmp_path / "served", framework))
