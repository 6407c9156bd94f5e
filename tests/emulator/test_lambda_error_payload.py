"""A handler's exception comes back as AWS's Python runtime returns it (awslambdaric's make_error:
errorMessage, errorType, requestId, stackTrace) and its report goes to the function's log group:
Step Functions puts the payload in the task failure's cause, so a failure names its line."""

from __future__ import annotations

from pathlib import Path

from dtrain.emulator.shims import LambdaRuntime
from tests.emulator.inline_lambda import inline_function

HANDLER = """def handler(event, context):
    return _inner(context.aws_request_id)


def _inner(request_id):
    raise RuntimeError(f"broken in {request_id}")
"""


def test_a_handlers_exception_is_returned_and_logged_as_the_python_runtime_does(tmp_path: Path) -> None:
    fn = inline_function("ErrorPayloadProbe", HANDLER)
    payload, error = LambdaRuntime(workdir=tmp_path).invoke(fn, {})

    assert error == "RuntimeError"
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert payload["errorType"] == "RuntimeError"
    assert payload["errorMessage"] == f"broken in {payload['requestId']}"  # the context's request id
    # The whole traceback from the handler down, the emulator's own frame left out.
    trace = payload["stackTrace"]
    assert [entry.split(", in ")[1].split("\n")[0] for entry in trace] == ["handler", "_inner"]
    assert 'handler.py", line 6, in _inner\n    raise RuntimeError(f"broken in {request_id}")\n' in trace[-1]

    group = fn.logs_backend.groups[f"/aws/lambda/{fn.function_name}"]
    (message,) = [e.message for s in group.streams.values() for e in s.events]
    assert message.startswith(f"[ERROR] RuntimeError: broken in {payload['requestId']}\n")
    assert "Traceback (most recent call last):\n" in message and "line 6, in _inner" in message
