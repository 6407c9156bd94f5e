"""What runs in Lambda is what the tests run: the runtime's Python version and boto3/botocore
vendored into every asset at the version requirements.txt pins."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stacks.orchestration.lambda_bundling import (
    BOTOCORE_SERVICES,
    DTRAIN_ROOT,
    LAMBDA_PYTHON,
    LAMBDA_REQUIREMENTS,
    LAMBDA_ROOT,
    LAMBDA_TASK_ROOT,
    lambda_interpreter,
    vendored_dependencies,
)

if TYPE_CHECKING:
    from stacks.synthesis import SynthesizedApp

REPO = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out[re.sub(r"\[.*\]", "", name).lower()] = version
    return out


def functions(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]


@pytest.fixture(scope="module")
def bundles(synthesized_app: SynthesizedApp) -> list[Path]:
    fns = functions(synthesized_app.template_dicts["orchestration"])
    assert len(fns) == 5
    return [synthesized_app.outdir / f"asset.{str(f['Code']['S3Key']).removesuffix('.zip')}" for f in fns]


def test_functions_run_the_python_the_lambda_tests_run_under(synthesized_app: SynthesizedApp) -> None:
    runtimes = {f["Runtime"] for f in functions(synthesized_app.template_dicts["orchestration"])}
    assert runtimes == {f"python{LAMBDA_PYTHON}"}
    # make test runs tests/lambda and the dtrain core tests in .venv-lambda with this Python.
    makefile = (REPO / "Makefile").read_text()
    assert f"/bin/python{LAMBDA_PYTHON})" in makefile and "$(LAMBDA_TESTS)" in makefile


def test_vendored_pins_are_the_tested_ones() -> None:
    lambda_pins, runtime_pins = pins(LAMBDA_REQUIREMENTS), pins(REPO / "requirements.txt")
    for name in ("boto3", "botocore"):
        assert lambda_pins[name] == runtime_pins[name], name
    # The main virtualenv runs every other test: .venv-lambda and the assets hold the same versions.
    for name, version in {**lambda_pins, **pins(REPO / "requirements-lambda-dev.txt")}.items():
        assert importlib.metadata.version(name) == version, name


def test_vendored_tree_holds_exactly_the_pinned_distributions() -> None:
    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    found = dict(
        d.name.removesuffix(".dist-info").rsplit("-", 1) for d in vendored_dependencies().glob("*.dist-info")
    )
    assert {canonical(k): v for k, v in found.items()} == {
        canonical(k): v for k, v in pins(LAMBDA_REQUIREMENTS).items()
    }


def test_every_asset_imports_the_vendored_boto3_at_the_tested_version(bundles: list[Path]) -> None:
    expected = pins(REPO / "requirements.txt")
    code = (
        "import sys; sys.path.insert(0, '.'); import boto3, botocore; "
        f"[boto3.client(s, region_name='us-east-1') for s in {list(BOTOCORE_SERVICES)!r}]; "
        "print(boto3.__version__, botocore.__version__, boto3.__file__, botocore.__file__)"
    )
    for bundle in bundles:
        out = subprocess.run(
            [sys.executable, "-E", "-s", "-c", code], cwd=bundle, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        boto3_version, botocore_version, *files = out.stdout.split()
        assert (boto3_version, botocore_version) == (expected["boto3"], expected["botocore"])
        assert all(Path(f).resolve().is_relative_to(bundle.resolve()) for f in files), files
        models = {p.name for p in (bundle / "botocore" / "data").iterdir() if p.is_dir()}
        assert models == set(BOTOCORE_SERVICES)


def test_bundled_code_makes_clients_only_for_the_kept_service_models() -> None:
    # Only these models are vendored: a client for another service would fail in Lambda.
    sources = [*LAMBDA_ROOT.rglob("*.py"), *DTRAIN_ROOT.rglob("*.py")]
    skipped = {"local", "emulator", "commands", "remote"}
    used: set[str] = set()
    for path in sources:
        if path.is_relative_to(DTRAIN_ROOT) and (skipped & set(path.relative_to(DTRAIN_ROOT).parts)):
            continue
        used |= set(re.findall(r"""boto3\.client\(\s*["'](\w+)["']""", path.read_text()))
    assert used and used <= set(BOTOCORE_SERVICES), used


def test_vendored_wheels_ship_bytecode_for_the_lambda_python() -> None:
    """Lambda cannot write .pyc (/var/task is read-only): without them every cold start compiles
    boto3, botocore and Powertools (benchmarks/lambda_cold_init.py)."""
    assert lambda_interpreter() is not None  # make test builds .venv-lambda
    tag = f"cpython-{LAMBDA_PYTHON.replace('.', '')}"
    site = vendored_dependencies()
    for module in ("boto3/__init__", "botocore/client", "aws_lambda_powertools/logging/logger"):
        package, name = module.rsplit("/", 1)
        data = (site / package / "__pycache__" / f"{name}.{tag}.pyc").read_bytes()
        assert int.from_bytes(data[4:8], "little") == 1, module  # unchecked hash: file times do not matter
        assert f"{LAMBDA_TASK_ROOT}/{module}.py".encode() in data, module  # tracebacks name /var/task


def test_every_asset_imports_its_handler_under_the_lambda_python_alone(bundles: list[Path]) -> None:
    """Only the standard library and the asset (-S), as in Lambda: nothing trimmed is needed."""
    interpreter = lambda_interpreter()
    assert interpreter is not None
    env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "LAMBDA_TASK_ROOT": LAMBDA_TASK_ROOT}
    code = "import sys; sys.path.insert(0, '.'); import handler; print(handler.instruments.service)"
    for bundle in bundles:
        command = [interpreter, "-S", "-c", code]
        out = subprocess.run(command, cwd=bundle, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert (bundle / "handler.py").is_file() and out.stdout.strip()
        # dtrain/ is compiled too, once per content (lambda_bundling.compiled_dtrain).
        tag = f"cpython-{LAMBDA_PYTHON.replace('.', '')}"
        data = (bundle / "dtrain" / "orchestration" / "__pycache__" / f"submit.{tag}.pyc").read_bytes()
        assert f"{LAMBDA_TASK_ROOT}/dtrain/orchestration/submit.py".encode() in data
