"""`dtrain predict` and the emulator's InvokeEndpoint at the edges of the hosting contract.

The class: a server that never finishes its answer, a body that is not text, a body larger
than the service takes, an error answered as an HTML page. Each ends in one line naming what
happened (the deadline, the size limit, the page's title) with the right exit code, within the
deadline; a binary body reaches the model byte for byte.
"""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.hostile.support import HostileServer, Outcome

REGION = "us-east-1"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_server_that_never_finishes_its_answer_does_not_hold_predict(
    cli: Callable[..., Outcome], tmp_path: Path, hostile_server: Callable[[str], HostileServer]
) -> None:
    """Headers at once, then a byte every half second: every read succeeds, the answer never ends."""
    server = hostile_server("trickle")
    body = _write(tmp_path, "in.json", b"[1, 2]")
    outcome = cli("predict", server.url, str(body), "--timeout", "2")
    outcome.one_line_error(3, "no complete answer within 2 s", "--timeout")
    assert outcome.seconds < 6


def test_a_silent_server_is_a_deadline_too(
    cli: Callable[..., Outcome], tmp_path: Path, hostile_server: Callable[[str], HostileServer]
) -> None:
    server = hostile_server("silent")
    outcome = cli("predict", server.url, str(_write(tmp_path, "in.json", b"[1]")), "--timeout", "1.5")
    outcome.one_line_error(3, "1.5 s")
    assert outcome.seconds < 5


def test_an_html_error_page_is_one_readable_line(
    cli: Callable[..., Outcome], tmp_path: Path, hostile_server: Callable[[str], HostileServer]
) -> None:
    server = hostile_server("html500")
    outcome = cli("predict", server.url, str(_write(tmp_path, "in.json", b"[1]")))
    line = outcome.one_line_error(1, "504", "Gateway Time-out")
    assert "<" not in line, line


def test_a_body_the_server_will_not_take_is_reported_as_too_large(
    cli: Callable[..., Outcome], tmp_path: Path, hostile_server: Callable[[str], HostileServer]
) -> None:
    """The server reads 64 KiB and hangs up, as a size-limited front end does: not "Broken pipe"."""
    server = hostile_server("close")
    big = _write(tmp_path, "big.npy", b"\0" * (8 * 1024 * 1024))
    outcome = cli("predict", server.url, str(big))
    line = outcome.one_line_error(2, "8.0 MiB", "6.0 MiB")
    assert "Broken pipe" not in line


def test_a_body_over_invoke_endpoints_limit_is_refused_before_sending(
    cli: Callable[..., Outcome], tmp_path: Path
) -> None:
    big = _write(tmp_path, "big.npy", b"\0" * (6291456 + 1))
    outcome = cli("predict", "some-endpoint", str(big))
    outcome.one_line_error(2, "FILE", "6291456 bytes")


class _Echo(http.server.BaseHTTPRequestHandler):
    """A model server that answers /invocations with the request's own body and type."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type", ""))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def emulated_endpoint(tmp_path: Path, fake_credentials: None) -> Iterator[str]:
    """The emulator's SageMaker runtime (moto with dtrain's hosting shims) with one endpoint,
    `echo`, whose model server echoes the body."""
    from moto import mock_aws

    from dtrain.emulator import hosting
    from dtrain.emulator.hosting import HostingBackend, ServedModel

    model_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=model_server.serve_forever, daemon=True).start()
    backend = HostingBackend(workdir=tmp_path / "hosting")
    scratch = tmp_path / "served"
    scratch.mkdir()
    try:
        with mock_aws(), hosting.installed(backend):
            backend.endpoints["echo"] = ServedModel(
                url=f"http://127.0.0.1:{model_server.server_address[1]}", handle=None, scratch=scratch
            )
            yield "echo"
    finally:
        model_server.shutdown()
        model_server.server_close()


def _npy(values: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values, dtype=np.float32))
    return buffer.getvalue()


def test_invoke_endpoint_takes_a_binary_body(emulated_endpoint: str) -> None:
    payload = _npy([[0.5, -1.0, 255.0]])
    assert b"\x93NUMPY" in payload and any(b > 127 for b in payload)  # not UTF-8
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    reply = runtime.invoke_endpoint(
        EndpointName=emulated_endpoint, Body=payload, ContentType="application/x-npy"
    )
    assert reply["ContentType"] == "application/x-npy"
    assert reply["Body"].read() == payload


def test_a_binary_body_to_a_missing_endpoint_is_not_found_not_a_500(emulated_endpoint: str) -> None:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    with pytest.raises(ClientError) as missing:
        runtime.invoke_endpoint(EndpointName="nope", Body=_npy([1.0, 2.0]), ContentType="application/x-npy")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_emulator_names_invoke_endpoints_size_limit(emulated_endpoint: str) -> None:
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    with pytest.raises(ClientError) as refused:
        runtime.invoke_endpoint(
            EndpointName=emulated_endpoint, Body=b"\0" * (6291456 + 1), ContentType="application/x-npy"
        )
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "6291456" in refused.value.response["Error"]["Message"]


def test_predict_sends_an_npy_file_through_the_emulator(
    emulated_endpoint: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    from dtrain.cli import main

    payload = _npy([[1.0, 2.0], [3.0, 4.0]])
    source = _write(tmp_path, "x.npy", payload)
    answer = tmp_path / "answer.npy"
    assert main(["predict", emulated_endpoint, str(source), "-o", str(answer)]) == 0, (
        capsysbinary.readouterr()
    )
    assert answer.read_bytes() == payload
