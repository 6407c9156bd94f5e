"""Lambda code assets built by plain file copies: lambda/<fn>/, the dtrain package, and
boto3/botocore at the tested version.

No Docker and no PythonFunction. The functions need the standard library, dtrain/, boto3 and
Powertools for AWS Lambda (with the X-Ray SDK its Tracer drives), all vendored from
requirements-lambda.txt; boto3/botocore instead of the runtime's own, so the strict request check
walks the same botocore SageMaker model in Lambda as in the tests and in `dtrain validate` (a
runtime's older botocore would refuse instance types or fields they accept). The wheels are pure
Python but wrapt's, which pip picks for the functions' platform and Python by tag: no build step.
pip installs them once per requirements content into a cache outside cdk.out
(.cache/lambda-deps/<hash>), compiled by a python3.13 when there is one, and every synth copies that
tree; dtrain/ likewise, compiled once per content (.cache/lambda-dtrain/<hash>). The asset hash is
taken from the output, so a change in dtrain/ or in the pins gives new assets.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_ROOT = REPO_ROOT / "lambda"
DTRAIN_ROOT = REPO_ROOT / "dtrain"
LAMBDA_REQUIREMENTS = REPO_ROOT / "requirements-lambda.txt"
DEPS_CACHE = REPO_ROOT / ".cache" / "lambda-deps"
DTRAIN_CACHE = REPO_ROOT / ".cache" / "lambda-dtrain"
# Compiled dtrain/ trees kept (one per content; the newest few).
DTRAIN_CACHE_KEEP = 6

# The runtime, its interpreter version and platform, in one place: the vendored wheels are
# resolved for them, and `make test` runs the Lambda code's tests under this Python (.venv-lambda).
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
LAMBDA_PYTHON = "3.13"
WHEEL_PLATFORM = "manylinux2014_aarch64"
# Where Lambda unpacks the function's zip.
LAMBDA_TASK_ROOT = "/var/task"
# botocore service models the bundled code makes clients for (boto3.client(...) in lambda/ and
# the dtrain modules they import); the other ~400 models stay out of the zips (tests check this).
BOTOCORE_SERVICES = ("dynamodb", "s3", "sagemaker", "stepfunctions")  # s3: the model phase repack

# Powertools ships every utility (event handlers, parsers, idempotency, ...: 7 MB); the functions
# use its Logger, Metrics and Tracer (dtrain/orchestration/observability.py), which need these.
POWERTOOLS_KEPT = ("logging", "metrics", "tracing", "shared", "middleware_factory", "warnings", "exceptions")
POWERTOOLS_UTILITIES_KEPT = ("jmespath_utils", "typing")

# What the Lambdas never import: the CLI, local mode and the emulator stay out of the zip.
_EXCLUDED = ("__pycache__", "*.pyc", "local", "emulator", "commands", "demo.py", "remote")
_COMPLETE = ".complete"


@functools.cache
def lambda_interpreter() -> str | None:
    """A python{LAMBDA_PYTHON} to compile the vendored wheels with: .venv-lambda's (make test builds
    it), else one on PATH; None when there is none (the tree then ships sources only).

    Lambda cannot write .pyc files (/var/task is read-only), so without them every cold start
    compiles boto3, botocore and Powertools again: about half of a bare boto3 client's cold init
    (benchmarks/lambda_cold_init.py). The files are unchecked-hash .pyc: valid whatever the zip
    does to file times (https://docs.python.org/3/reference/import.html#cached-bytecode-invalidation).
    """
    wanted = tuple(int(n) for n in LAMBDA_PYTHON.split("."))
    for candidate in (REPO_ROOT / ".venv-lambda" / "bin" / "python", shutil.which(f"python{LAMBDA_PYTHON}")):
        if candidate is None or not Path(candidate).is_file():
            continue
        probe = [str(candidate), "-c", "import sys; print(*sys.version_info[:2])"]
        done = subprocess.run(probe, capture_output=True, text=True, check=False)
        if done.returncode == 0 and tuple(int(n) for n in done.stdout.split()) == wanted:
            return str(candidate)
    return None


def _cache_key() -> str:
    text = LAMBDA_REQUIREMENTS.read_bytes()
    compiled = b"pyc" if lambda_interpreter() else b"sources"
    kept = ",".join((*BOTOCORE_SERVICES, *POWERTOOLS_KEPT, *POWERTOOLS_UTILITIES_KEPT)).encode()
    parts = [text, LAMBDA_PYTHON.encode(), WHEEL_PLATFORM.encode(), kept, compiled]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _compile(site: Path) -> None:
    interpreter = lambda_interpreter()
    if interpreter is None:
        return
    # File names as Lambda sees them (tracebacks), not this machine's cache path; with a fixed hash
    # seed (frozenset constants) the same sources then give the same bytes on every machine.
    command = [
        interpreter, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
        "-s", str(site), "-p", LAMBDA_TASK_ROOT, str(site),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        last = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{interpreter}: could not compile the Lambda wheels: {last}")


def _trim(site: Path) -> None:
    """Drop what no function loads: console scripts, the unused botocore service models and
    Powertools utilities (tests/stacks/test_lambda_bundle.py imports every handler in its asset)."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    data = site / "botocore" / "data"
    for entry in data.iterdir():
        if entry.is_dir() and entry.name not in BOTOCORE_SERVICES:
            shutil.rmtree(entry)
    powertools = site / "aws_lambda_powertools"
    for entry in powertools.iterdir():
        if entry.is_dir() and entry.name not in (*POWERTOOLS_KEPT, "utilities"):
            shutil.rmtree(entry)
    for entry in (powertools / "utilities").iterdir():
        if entry.name.removesuffix(".py") not in POWERTOOLS_UTILITIES_KEPT and entry.name != "__init__.py":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def vendored_dependencies() -> Path:
    """The site-packages tree every asset starts from, built on first use per requirements content.

    Built in a scratch directory and renamed into place, so concurrent synths never see half a tree."""
    target = DEPS_CACHE / _cache_key()
    if (target / _COMPLETE).is_file():
        return target
    DEPS_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=DEPS_CACHE, prefix=f"{target.name}.partial-"))
    try:
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", LAMBDA_PYTHON, "--platform", WHEEL_PLATFORM,
            "--target", str(staging), "-r", str(LAMBDA_REQUIREMENTS),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{LAMBDA_REQUIREMENTS.name}: pip could not install the Lambda wheels: {last}")
        _trim(staging)
        _compile(staging)
        (staging / _COMPLETE).touch()
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / _COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def compiled_dtrain() -> Path:
    """dtrain/ as the assets carry it (without what the Lambdas never import), compiled like the
    wheels when a python{LAMBDA_PYTHON} is there; cached per content, so a synth compiles it once
    and its five assets copy it."""
    DTRAIN_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=DTRAIN_CACHE, prefix="partial-"))
    try:
        shutil.copytree(DTRAIN_ROOT, staging / "dtrain", ignore=shutil.ignore_patterns(*_EXCLUDED))
        digest = hashlib.sha256(b"pyc" if lambda_interpreter() else b"sources")
        for file in sorted((staging / "dtrain").rglob("*")):
            if file.is_file():
                digest.update(file.relative_to(staging).as_posix().encode() + b"\0" + file.read_bytes())
        target = DTRAIN_CACHE / digest.hexdigest()[:16]
        if not (target / _COMPLETE).is_file():
            _compile(staging)
            (staging / _COMPLETE).touch()
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / _COMPLETE).is_file():
                    raise
            entries = sorted(DTRAIN_CACHE.glob("[0-9a-f]*"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in entries[DTRAIN_CACHE_KEEP:]:
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "dtrain"


@jsii.implements(ILocalBundling)
class CopyBundler:
    def __init__(self, function_dir: Path) -> None:
        self.function_dir = function_dir

    def try_bundle(self, output_dir: str, options: Any = None, **_kw: Any) -> bool:
        out = Path(output_dir)
        shutil.copytree(
            vendored_dependencies(), out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_COMPLETE)
        )
        for item in self.function_dir.iterdir():
            if item.name == "__pycache__":
                continue
            if item.is_dir():
                shutil.copytree(item, out / item.name, dirs_exist_ok=True)
            else:
                shutil.copy2(item, out / item.name)
        shutil.copytree(compiled_dtrain(), out / "dtrain", dirs_exist_ok=True)
        return True


def function_code(function: str) -> lambda_.Code:
    source = LAMBDA_ROOT / function
    if not (source / "handler.py").is_file():
        raise FileNotFoundError(f"lambda/{function}/handler.py is missing")
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Never used: local bundling always succeeds. CDK requires an image anyway.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{LAMBDA_PYTHON}"),
            local=CopyBundler(source),
        ),
    )
