"""A handler's exception comes back as AWS's Python runtime returns it (awslambdaric's make_error:
errorMessage, errorType, requestId, stackTrace) and its report goes to the function's log group:
Step Functions puts the payload in the task failure's cause, so a failure names its line."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from moto.logs.models import logs_backends

from dtrain.emulator.shims import LambdaRuntime

ACCOUNT, REGION = "123456789012", "us-east-1"
HANDLER = """def handler(event, context):
    return _inner(context.aws_request_id)


def _inner(request_id):
    raise RuntimeError(f"broken in {request_id}")
"""


def _function(name: str) -> Any:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", HANDLER)
    return SimpleNamespace(
        function_name=name,
        function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        code_sha_256="e770" * 8,
        code_bytes=buf.getvalue(),
        handler="handler.handler",
        environment_vars={},
        region=REGION,
        role=f"arn:aws:iam::{ACCOUNT}:role/{name}",
        memory_size=256,
        logs_backend=logs_backends[ACCOUNT][REGION],
    )


def test_a_handlers_exception_is_returned_and_logged_as_the_python_runtime_does(tmp_path: Path) -> None:
    fn = _function("ErrorPayloadProbe")
    payload, error = LambdaRuntime(workdir=tmp_path).invoke(fn, {})

    assert error == "RuntimeError"
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert payload["errorType"] == "RuntimeError"
    assert payload["errorMessage"] == f"broken in {payload['requestId']}"  # the context's request id
    # The whole traceback from the handler down, the emulator's own frame left out.
    trace = payload["stackTrace"]
    assert [entry.split(", in ")[1].split("\n")[0] for entry in trace] == ["handler", "_inner"]
    assert 'handler.py", line 6, in _inner\n    raise RuntimeError(f"broken in {request_id}")\n' in trace[-1]

    group = logs_backends[ACCOUNT][REGION].groups[f"/aws/lambda/{fn.function_name}"]
    (message,) = [e.message for s in group.streams.values() for e in s.events]
    assert message.startswith(f"[ERROR] RuntimeError: broken in {payload['requestId']}\n")
    assert "Traceback (most recent call last):\n" in message and "line 6, in _inner" in message
