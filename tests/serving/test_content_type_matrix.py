"""The content-type matrix against the real PyTorch stack (TorchServe, SageMaker's PyTorch toolkit):
a model that leaves decoding to sagemaker-inference's defaults, and the bundled trainers' model.
The cases and why each answer is what the toolkit answers: matrix_cases.py; the TF Serving stack's
rows run in test_tf_serving_format.py on its servers. Slow-ish: one more TorchServe (10-20 s),
shared by the module; the bundled model's server is the session's.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.serving import ServerHandle, start_server
from tests.serving.matrix_cases import DEFAULTS_INFERENCE, Case, cases, outcome

# One xdist worker runs every test of the session's trained_server (conftest.trained_server).
pytestmark = pytest.mark.xdist_group("trained-server")

PYTORCH_CASES = [c for c in cases() if c.stack in ("defaults", "bundled")]


def ask(url: str, case: Case) -> tuple[int, bytes]:
    headers = {"Content-Type": case.content_type, "Accept": case.accept}
    request = urllib.request.Request(f"{url}/invocations", data=case.body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def defaults_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    model = tmp_path_factory.mktemp("defaults")
    (model / "code").mkdir()
    (model / "code" / "inference.py").write_text(DEFAULTS_INFERENCE)
    with start_server(model, port=0, workers=1) as handle:
        yield handle


@pytest.mark.parametrize("case", PYTORCH_CASES, ids=[f"{c.stack}-{c.name}" for c in PYTORCH_CASES])
def test_the_pytorch_stack_answers_each_content_type_as_the_toolkit_does(
    case: Case, request: pytest.FixtureRequest, trained_model_dir: Path
) -> None:
    server = request.getfixturevalue("defaults_server" if case.stack == "defaults" else "trained_server")
    status, body = ask(server.url, case)
    assert status == case.status, body[:400]
    assert case.expect in outcome(status, body), body[:400]
