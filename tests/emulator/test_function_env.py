"""Every in-process Lambda sees its own environment variables (dtrain.emulator.function_env)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from dtrain.emulator import function_env
from dtrain.emulator.shims import LambdaRuntime
from tests.emulator.inline_lambda import inline_function

HANDLER = """
import os, time

def handler(event, context):
    seen = os.environ["LEDGER_TABLE"]
    os.environ["WRITTEN"] = seen      # a write stays the function's own
    time.sleep(event.get("pause", 0))  # the other function runs meanwhile
    return {"ledger": os.environ["LEDGER_TABLE"], "getenv": os.getenv("LEDGER_TABLE"),
            "written": os.environ["WRITTEN"], "region": os.environ["AWS_REGION"]}
"""


def test_two_platforms_functions_each_read_their_own_variables_at_once(tmp_path: Path) -> None:
    runtime = LambdaRuntime(workdir=tmp_path)
    first, second = (
        inline_function("PlatformASubmit", HANDLER, {"LEDGER_TABLE": "ledger-a"}),
        inline_function("PlatformBSubmit", HANDLER, {"LEDGER_TABLE": "ledger-b"}),
    )
    results: dict[str, Any] = {}
    with function_env.installed():
        threads = [
            threading.Thread(
                target=lambda f=f: results.update({f.function_name: runtime.invoke(f, {"pause": 0.3})})
            )
            for f in (first, second)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert "WRITTEN" not in os.environ and "LEDGER_TABLE" not in os.environ  # the process's own
    for name, ledger in (("PlatformASubmit", "ledger-a"), ("PlatformBSubmit", "ledger-b")):
        payload, error = results[name]
        assert error is None, payload
        assert payload == {"ledger": ledger, "getenv": ledger, "written": ledger, "region": "us-east-1"}


def test_outside_a_function_the_view_is_the_process_environment() -> None:
    with function_env.installed():
        os.environ["DTRAIN_FUNCTION_ENV_PROBE"] = "process"
        try:
            with function_env.function_environment({"DTRAIN_FUNCTION_ENV_PROBE": "function"}):
                assert os.environ["DTRAIN_FUNCTION_ENV_PROBE"] == "function"
                del os.environ["DTRAIN_FUNCTION_ENV_PROBE"]
                assert "DTRAIN_FUNCTION_ENV_PROBE" not in os.environ
            assert os.environ["DTRAIN_FUNCTION_ENV_PROBE"] == "process"
        finally:
            del os.environ["DTRAIN_FUNCTION_ENV_PROBE"]
    assert not isinstance(os.environ, function_env._FunctionEnviron)
