"""A Lambda function with its handler's source inline, in the shape the emulator's LambdaRuntime
invokes (the attributes it reads of moto's LambdaFunction), for tests of that runtime."""

from __future__ import annotations

import hashlib
import io
import zipfile
from types import SimpleNamespace
from typing import Any

from moto.logs.models import logs_backends

ACCOUNT, REGION = "123456789012", "us-east-1"


def inline_function(name: str, source: str, variables: dict[str, str] | None = None) -> Any:
    """Function `name` whose deployment package holds handler.py with `source` (handler
    `handler.handler`), `variables` as its environment, logging to moto's CloudWatch Logs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", source)
    return SimpleNamespace(
        function_name=name,
        function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        code_sha_256=hashlib.sha256(buf.getvalue()).hexdigest(),
        code_bytes=buf.getvalue(),
        handler="handler.handler",
        environment_vars=dict(variables or {}),
        region=REGION,
        role=f"arn:aws:iam::{ACCOUNT}:role/{name}",
        memory_size=256,
        logs_backend=logs_backends[ACCOUNT][REGION],
    )
