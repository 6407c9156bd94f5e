"""What runs in Lambda is what the tests run: the runtime's Python version and boto3/botocore
vendored into every asset at the version requirements.txt pins."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dtrain.constructs.orchestration.lambda_bundling import (
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
    from dtrain.constructs.synthesis import SynthesizedApp

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
        # dtrain/ is compiled too, once per content (lambda_bundling.compiled_dtrain): every module
        # the asset carries (its handler's import closure).
        tag = f"cpython-{LAMBDA_PYTHON.replace('.', '')}"
        for module in (bundle / "dtrain").rglob("*.py"):
            data = (module.parent / "__pycache__" / f"{module.stem}.{tag}.pyc").read_bytes()
            assert f"{LAMBDA_TASK_ROOT}/{module.relative_to(bundle).as_posix()}".encode() in data, module


def _module_file(name: str) -> Path | None:
    base = DTRAIN_ROOT.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def import_closure(handler: Path) -> set[str]:
    """The dtrain modules `handler` reaches, read with the stdlib ast (every import statement, in
    functions too, as lambda_bundling's modulefinder reads the bytecode): an independent reading."""
    found: set[str] = set()
    todo = [(handler, "")]
    while todo:
        path, package = todo.pop()
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([base] if base else [])])
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for name in names:
                parts = name.split(".")
                if parts[0] != "dtrain":
                    continue
                for end in range(1, len(parts) + 1):  # a module's packages are imported first
                    module = ".".join(parts[:end])
                    file = _module_file(module)
                    if file is not None and module not in found:
                        found.add(module)
                        is_package = file.name == "__init__.py"
                        todo.append((file, module if is_package else module.rpartition(".")[0]))
    return found


def _function_of(bundle: Path) -> str:
    handler = (bundle / "handler.py").read_bytes()
    (name,) = [p.parent.name for p in LAMBDA_ROOT.glob("*/handler.py") if p.read_bytes() == handler]
    return name


def test_every_asset_holds_exactly_its_handlers_import_closure(bundles: list[Path]) -> None:
    """Not an exclude list: a dtrain module no handler reaches is not shipped, and every one it
    reaches is (issue 25: 19 unreached modules shipped in every asset before)."""
    closures = {}
    for bundle in bundles:
        function = _function_of(bundle)
        shipped = {
            ".".join(p.relative_to(bundle).with_suffix("").parts).removesuffix(".__init__")
            for p in (bundle / "dtrain").rglob("*.py")
        }
        closures[function] = import_closure(LAMBDA_ROOT / function / "handler.py")
        assert shipped == closures[function], function
    # The handlers differ in what they reach: the event handlers carry no spec checker.
    assert len(closures["job_events"]) < len(closures["submit_job"])
    assert not any(
        m.startswith(("dtrain.emulator", "dtrain.local", "dtrain.commands"))
        for c in closures.values()
        for m in c
    )


def test_every_module_of_an_asset_imports_from_the_asset_alone(bundles: list[Path]) -> None:
    """The modules a handler imports inside functions (at run time) are there and import too."""
    interpreter = lambda_interpreter()
    assert interpreter is not None
    env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "LAMBDA_TASK_ROOT": LAMBDA_TASK_ROOT}
    for bundle in bundles:
        modules = sorted(
            ".".join(p.relative_to(bundle).with_suffix("").parts).removesuffix(".__init__")
            for p in (bundle / "dtrain").rglob("*.py")
        )
        code = (
            "import importlib, sys; sys.path.insert(0, '.'); import handler\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(len([m for m in sys.modules if m.startswith('dtrain')]))"
        )
        out = subprocess.run(
            [interpreter, "-S", "-c", code], cwd=bundle, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert int(out.stdout) == len(modules), bundle


def test_vendored_tree_builds_offline_outside_the_checkout(tmp_path: Path) -> None:
    """No package index at synth: the tree comes from the installed distributions, into the
    user's cache directory (DTRAIN_CACHE_DIR here), never into the checkout. Slow-ish (about 10 s
    on 2 busy cores): it compiles botocore and Powertools with python3.13 as a first synth does."""
    cache = tmp_path / "cache"
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network use at synth')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "from dtrain.constructs.orchestration.lambda_bundling import vendored_dependencies\n"
        "print(vendored_dependencies())"
    )
    # pip (which the old bundling ran in a subprocess) finds no index either.
    env = {**os.environ, "DTRAIN_CACHE_DIR": str(cache), "PIP_NO_INDEX": "1", "PYTHONPATH": str(REPO)}
    before = {p for p in REPO.iterdir()}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    tree = Path(out.stdout.strip())
    assert tree.is_relative_to(cache) and (tree / "boto3" / "__init__.py").is_file()
    assert not any((tree / "wrapt").glob("*.so"))  # built for this machine, not Lambda's arm64
    assert {p for p in REPO.iterdir()} == before
