"""Lambda code assets built by plain file copies: lambda/<fn>/, the dtrain modules its handler
imports, and boto3/botocore at the tested version.

No Docker, no PythonFunction, no network. The functions need the standard library, dtrain's
orchestration runtime, boto3 and Powertools for AWS Lambda (with the X-Ray SDK its Tracer drives):
the distributions requirements-lambda.txt pins, copied from the environment that synthesizes (it
holds them at those versions: a test checks, and a mismatch stops the synth with the names), so a
copy without a package index synthesizes; boto3/botocore instead of the runtime's own, so the strict
request check walks the same botocore SageMaker model in Lambda as in the tests and in `dtrain
validate`. Extension modules built for the synthesizing machine are left out (the functions run
arm64): wrapt, the only one, then uses its pure-Python wrappers, as it does wherever its C
extension does not load (wrapt/__wrapt__.py falls back on ImportError).

Each asset carries only the dtrain modules its handler reaches: the handler's import graph closed
over dtrain's own modules (modulefinder, imports inside functions included), not an exclude list.

The copied distributions are trimmed and compiled by a python3.13 when there is one, once per
content, in a cache under the user's cache directory (DTRAIN_CACHE_DIR, else $XDG_CACHE_HOME/dtrain,
else ~/.cache/dtrain), never in the checkout; each asset's dtrain modules likewise. The asset hash is
taken from the output, so a change in dtrain/ or in the pins gives new assets.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import modulefinder
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

import dtrain
from dtrain.package_data import lambda_dir, lambda_requirements

# The handlers, the dtrain package and the pins as installed (a checkout or a wheel alike:
# dtrain.package_data); REPO_ROOT is where a checkout's set-up puts .venv-lambda, if anywhere.
DTRAIN_ROOT = Path(dtrain.__file__).resolve().parent
REPO_ROOT = DTRAIN_ROOT.parent
LAMBDA_ROOT = lambda_dir()
LAMBDA_REQUIREMENTS = lambda_requirements()
# Compiled dtrain module sets kept (one per asset content; five assets per synth).
DTRAIN_CACHE_KEEP = 20

# The runtime, its interpreter version and platform, in one place: the vendored code is compiled
# for them, and `make test` runs the Lambda code's tests under this Python (.venv-lambda).
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
LAMBDA_PYTHON = "3.13"
# Where Lambda unpacks the function's zip.
LAMBDA_TASK_ROOT = "/var/task"
# botocore service models the bundled code makes clients for (boto3.client(...) in lambda/ and
# the dtrain modules they import); the other ~400 models stay out of the zips (tests check this).
BOTOCORE_SERVICES = ("dynamodb", "s3", "sagemaker", "stepfunctions")  # s3: the model phase repack

# Powertools ships every utility (event handlers, parsers, idempotency, ...: 7 MB); the functions
# use its Logger, Metrics and Tracer (dtrain/orchestration/observability.py), which need these.
POWERTOOLS_KEPT = ("logging", "metrics", "tracing", "shared", "middleware_factory", "warnings", "exceptions")
POWERTOOLS_UTILITIES_KEPT = ("jmespath_utils", "typing")
# Compiled for the synthesizing machine, not for Lambda's arm64 (see the module docstring).
EXTENSION_SUFFIXES = (".so", ".pyd")
# Bumped when the layout of the vendored tree changes, so old cache entries are not reused.
_LAYOUT = b"installed-distributions-1"
_COMPLETE = ".complete"


def cache_root() -> Path:
    """Where synths keep what they build once: DTRAIN_CACHE_DIR, else the XDG cache directory
    (https://specifications.freedesktop.org/basedir-spec/latest/: $XDG_CACHE_HOME, default
    ~/.cache), under `dtrain`. Never the checkout: an installed dtrain has none to write to."""
    explicit = os.environ.get("DTRAIN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dtrain"


def pinned_distributions() -> dict[str, str]:
    """requirements-lambda.txt as {distribution name: version}."""
    pins: dict[str, str] = {}
    for line in LAMBDA_REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", name).strip()] = version.strip()
    return pins


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


def _cache_key(pins: Mapping[str, str]) -> str:
    compiled = b"pyc" if lambda_interpreter() else b"sources"
    kept = ",".join((*BOTOCORE_SERVICES, *POWERTOOLS_KEPT, *POWERTOOLS_UTILITIES_KEPT)).encode()
    listed = ",".join(f"{name}=={version}" for name, version in sorted(pins.items())).encode()
    parts = [_LAYOUT, listed, LAMBDA_PYTHON.encode(), kept, compiled]
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
    # Without PYTHONPYCACHEPREFIX (make sets it): with it, compileall writes into that folder
    # instead of the asset's __pycache__ folders.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONPYCACHEPREFIX", None)
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


def _copy_installed(name: str, version: str, into: Path) -> None:
    """One installed distribution's files (as its RECORD lists them) into `into`, laid out as in
    site-packages, without bytecode, console scripts or extension modules."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"{LAMBDA_REQUIREMENTS.name} pins {name}=={version}, which this Python environment lacks: "
            f"install it (pip install {name}=={version}) to synthesize the Lambda assets"
        ) from None
    if dist.version != version:
        raise RuntimeError(
            f"{LAMBDA_REQUIREMENTS.name} pins {name}=={version}, this Python environment holds "
            f"{dist.version}: the Lambdas ship the tested versions (pip install {name}=={version})"
        )
    for file in dist.files or ():
        relative = Path(str(file))
        if ".." in relative.parts or "__pycache__" in relative.parts:
            continue  # console scripts (bin/), and bytecode of the synthesizing Python
        if relative.suffix in EXTENSION_SUFFIXES or relative.suffix == ".pyc":
            continue
        source = Path(str(dist.locate_file(file)))
        if source.is_file():
            (into / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / relative)


def _publish(staging: Path, target: Path) -> None:
    """Rename a finished tree into place; another synth may have won the race (same content)."""
    (staging / _COMPLETE).touch()
    try:
        os.rename(staging, target)
    except OSError:
        if not (target / _COMPLETE).is_file():
            raise


def vendored_dependencies() -> Path:
    """The site-packages tree every asset starts from, built on first use per pinned content from
    the installed distributions (no pip, no index).

    Built in a scratch directory and renamed into place, so concurrent synths never see half a tree."""
    pins = pinned_distributions()
    cache = cache_root() / "lambda-deps"
    target = cache / _cache_key(pins)
    if (target / _COMPLETE).is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=f"{target.name}.partial-"))
    try:
        for name, version in pins.items():
            _copy_installed(name, version, staging)
        _trim(staging)
        _compile(staging)
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def handler_modules(function_dir: Path) -> dict[str, Path]:
    """The dtrain modules lambda/<fn>/handler.py imports, closed over dtrain's own imports: module
    name -> source file. modulefinder reads every import in the bytecode, those inside functions
    (imported at run time) included; what lies outside dtrain is not followed (the vendored
    distributions and the standard library are in the asset or the runtime whole)."""
    finder = modulefinder.ModuleFinder(path=[str(function_dir), str(DTRAIN_ROOT.parent)])
    finder.run_script(str(function_dir / "handler.py"))
    found: dict[str, Path] = {}
    for name, module in finder.modules.items():
        file: str | None = getattr(module, "__file__", None)  # modulefinder.Module, untyped
        if (name == "dtrain" or name.startswith("dtrain.")) and file:
            found[name] = Path(file).resolve()
    return found


def compiled_dtrain(files: Iterable[Path]) -> Path:
    """These dtrain sources as an asset carries them, compiled like the wheels when a
    python{LAMBDA_PYTHON} is there; cached per content, so a synth compiles each set once."""
    cache = cache_root() / "lambda-dtrain"
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix="partial-"))
    try:
        digest = hashlib.sha256(b"pyc" if lambda_interpreter() else b"sources")
        for source in sorted(files):
            relative = source.relative_to(DTRAIN_ROOT.parent)
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, staging / relative)
            digest.update(relative.as_posix().encode() + b"\0" + source.read_bytes())
        target = cache / digest.hexdigest()[:16]
        if not (target / _COMPLETE).is_file():
            _compile(staging)
            _publish(staging, target)
            entries = sorted(cache.glob("[0-9a-f]*"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in entries[DTRAIN_CACHE_KEEP:]:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.utime(target)  # recently used: kept by the pruning above
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
        modules = handler_modules(self.function_dir).values()
        shutil.copytree(compiled_dtrain(modules), out / "dtrain", dirs_exist_ok=True)
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
