"""The emulator's Lambda runtime takes only the handler's module out of a deployment zip: the
vendored packages beside it are not imported there (the handler runs with this process's
packages), so writing them out and removing them again was seconds of `make demo` (issue 32)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dtrain.emulator.shims import EmulatorError, LambdaRuntime

HANDLER = "def handler(event, context):\n    return {'doubled': event['n'] * 2}\n"


def _function(files: dict[str, str], handler: str = "handler.handler") -> Any:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return SimpleNamespace(
        function_name="Submit",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:Submit",
        code_sha_256="c0de" * 8,
        code_bytes=buf.getvalue(),
        handler=handler,
        environment_vars={},
        region="us-east-1",
        role="arn:aws:iam::123456789012:role/Submit",
        memory_size=256,
    )


def test_only_the_handler_module_leaves_the_zip(tmp_path: Path) -> None:
    vendored = {f"botocore/data/service{i}/service-2.json": "{}" for i in range(50)}
    fn = _function({"handler.py": HANDLER, "boto3/__init__.py": "raise ImportError", **vendored})
    payload, error = LambdaRuntime(workdir=tmp_path).invoke(fn, {"n": 21})
    assert error is None, payload
    assert payload == {"doubled": 42}
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == [f"Submit-{'c0de' * 3}/handler.py"]


def test_a_handler_in_a_package_is_found_by_its_dotted_name(tmp_path: Path) -> None:
    fn = _function({"app/main.py": HANDLER, "app/__init__.py": ""}, handler="app.main.handler")
    payload, error = LambdaRuntime(workdir=tmp_path).invoke(fn, {"n": 2})
    assert (payload, error) == ({"doubled": 4}, None)


def test_a_zip_without_the_handler_module_names_what_is_missing(tmp_path: Path) -> None:
    fn = _function({"other.py": HANDLER})
    with pytest.raises(EmulatorError, match=r"Submit: its handler handler\.handler needs handler\.py"):
        LambdaRuntime(workdir=tmp_path).invoke(fn, {"n": 1})
