"""One synthesis per input: cloud assemblies kept under a hash of what the synth reads.

    assembly = cached_synth("emulator-platform", {"context": ...}, synth, outdir)

A synth of the platform costs 12-25 s (jsii's Node.js runtime, the CDK constructs, the Lambda
assets, cdk-nag); `make demo`, `dtrain emulate up` and the test session's fixtures synthesize the
same app again and again from an unchanged tree. The first synth of an input is kept in the cache
directory under its key; a later one with the same key links (or copies) the kept assembly into
its `outdir` and starts no CDK at all.

The key hashes everything the synth reads:
- the app's name and its arguments (context overrides, stack prefixes: JSON);
- every file of the dtrain package, through dtrain/bundled's links: the constructs, cdk.json's
  context, the Lambda handlers and the dtrain modules their assets carry, requirements-lambda.txt,
  training_code/ (the image assets' build context). Left out: __pycache__, and what no synth
  reads and a wheel does not carry (bundled/examples: the job specs and the team's example app;
  the modules' *.md notes), so an installed wheel's key is its checkout's (the installed-wheel
  test holds them equal, and its `dtrain emulate up` takes the suite's synthesis);
- the installed distributions, by name and version (aws-cdk-lib, constructs, cdk-nag, jsii, and
  boto3/botocore/Powertools, which the Lambda assets copy from this environment);
- the Python and Node.js versions, and the build of the python3.13 that compiles the Lambda
  assets' .pyc files (dtrain.constructs.orchestration.lambda_bundling.lambda_interpreter's pick:
  its sys.version, so that the checkout's .venv-lambda and an install's python3.13 on PATH that
  is the same interpreter give one key).

The cache directory: $DTRAIN_SYNTH_CACHE, else .dtrain/synth-cache under the current directory
(beside the demo's and the emulator's work directories); DTRAIN_SYNTH_CACHE=off synthesizes every
time. Entries are written to a temporary name and renamed into place (a synth that fails or is
killed half-way leaves no entry), and each key has a lock file, so concurrent callers (pytest-xdist
workers, a demo beside `dtrain emulate up`) synthesize a key once. The KEEP most recently used
entries are kept (an entry is ~75 MB: each Lambda asset vendors boto3).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import dtrain
from dtrain.jobspec import digests

CACHE_ENV = "DTRAIN_SYNTH_CACHE"
DEFAULT_CACHE_DIR = Path(".dtrain") / "synth-cache"
OFF = ("off", "0", "no", "false")
# Most recently used entries kept: the platform for the emulator, the stand-in app and its
# variants, and a few trees before an edit. A run of the main suite uses 6 distinct keys (the
# platform and the apps its tests vary from it); with exactly 6 kept, the run after an edit
# evicted entries the next run then synthesized again.
KEEP = 9
# In a materialized assembly: the key of the entry it was copied from.
MARKER = ".dtrain-synth-cache-key"
# Bumped when what an entry holds changes, so older entries are not read as current ones.
_FORMAT = "synth-cache-1"
KEY_LENGTH = 24
# An entry (<key>) or the staging folder of one being written (.<key>.<pid>.tmp).
_ENTRY = re.compile(rf"\.?[0-9a-f]{{{KEY_LENGTH}}}(\.\d+\.tmp)?")
_SKIPPED_DIRS = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
# Read by no synth and not in the wheel (pyproject.toml's package-data): the examples (the CLI and
# the demo read the job specs; examples/platform_app is a team's app with its own tests).
_UNREAD_DIRS = (Path("bundled", "examples"),)
# The interpreter that compiles the Lambda assets (lambda_bundling.lambda_interpreter: the
# checkout's .venv-lambda, else python3.13 on PATH); read here without loading the CDK.
_LAMBDA_PYTHON = "python3.13"


def cache_dir() -> Path | None:
    """The cache directory this process uses; None when DTRAIN_SYNTH_CACHE turns it off."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return DEFAULT_CACHE_DIR.absolute()
    if not value.strip() or value.strip().lower() in OFF:
        return None
    return Path(value).absolute()


def _unread(relative: Path) -> bool:
    """A file of the package no synth reads and a wheel leaves out: the modules' notes (*.md;
    under bundled/ they may be part of an asset, as in training_code/, the images' context)."""
    return relative.suffix == ".md" and relative.parts[0] != "bundled"


def tree_digest(root: Path) -> str:
    """sha256 over the relative path and the bytes of every file under `root` (links followed),
    but bytecode and what no synth reads (_UNREAD_DIRS, _unread)."""
    digest = hashlib.sha256()
    for directory, subdirs, files in os.walk(root, followlinks=True):
        here = Path(directory).relative_to(root)
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIPPED_DIRS and here / d not in _UNREAD_DIRS)
        for name in sorted(files):
            if name.endswith(_SKIPPED_SUFFIXES) or _unread(here / name):
                continue
            path = Path(directory, name)
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def installed_distributions() -> list[str]:
    """Every distribution on sys.path as `name-version` (its .dist-info/.egg-info folder's name:
    listing folders costs milliseconds, reading each METADATA a third of a second). The current
    directory ('' or -m's) and source trees (a pyproject.toml beside) are no installs: a build's
    dtrain.egg-info in the checkout would otherwise give `emulate up` another key in another
    directory."""
    found: set[str] = set()
    for entry in sys.path:
        if (
            not entry
            or Path(entry).resolve() == Path.cwd().resolve()
            or Path(entry, "pyproject.toml").exists()
        ):
            continue
        with contextlib.suppress(OSError):
            for child in os.scandir(entry):
                if child.name.endswith((".dist-info", ".egg-info")):
                    found.add(child.name.rsplit(".", 1)[0])
    return sorted(found)


def _node_version() -> str:
    import subprocess  # lazy: only a cache lookup runs Node.js for its version

    node = shutil.which("node")
    if node is None:
        return "none"
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return f"{node} {done.stdout.strip()}"


def _lambda_interpreter(package: Path) -> str:
    """The sys.version of the interpreter lambda_interpreter() picks (its first candidate that is a
    python3.13), "" when none: the .pyc it writes depend on that build, not on the path it is
    reached by (a checkout's .venv-lambda, an install's python3.13 on PATH, a pyenv shim)."""
    for candidate in (package.parent / ".venv-lambda" / "bin" / "python", shutil.which(_LAMBDA_PYTHON)):
        if candidate is not None and Path(candidate).is_file():
            version = _python_version(str(candidate))
            if version.startswith(f"{_LAMBDA_PYTHON.removeprefix('python')}."):
                return version
    return ""


@functools.cache
def _python_version(python: str) -> str:
    import subprocess  # lazy: only a cache lookup runs a Python for its version

    probe = [python, "-c", "import sys; print(sys.version)"]
    done = subprocess.run(probe, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def synth_inputs(app: str, arguments: Mapping[str, Any], package: Path | None = None) -> dict[str, Any]:
    """What a synth of `app` with `arguments` reads, as the key is made of (see the docstring)."""
    package = package if package is not None else Path(dtrain.__file__).resolve().parent
    return {
        "format": _FORMAT,
        "app": app,
        "arguments": dict(arguments),
        "package": tree_digest(package),
        "distributions": installed_distributions(),
        "python": sys.version,
        "node": _node_version(),
        "lambda_interpreter": _lambda_interpreter(package),
    }


def cache_key(inputs: Mapping[str, Any]) -> str:
    return digests.synth_inputs_digest(inputs)[:KEY_LENGTH]


@contextlib.contextmanager
def _locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive flock on `path` (created); yields False when `wait` is off and it is held."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            yield False
            return
        yield True  # released when the file closes


def _link_or_copy(source: str, dest: str) -> None:
    # A hard link costs no space or time; a copy where the cache is on another filesystem.
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def _materialize(entry: Path, outdir: Path) -> None:
    """`outdir` as a linked copy of `entry`, marked with the entry's key. An `outdir` that already
    holds that key's copy is left as it is: the demo's .dtrain/demo/cdk.out is the same tree run
    after run, and removing its ~1,000 folders to make them again took 2.4 of the demo's 2.7 s
    of a cached synth (rmdir on this overlay filesystem: ~2 ms a folder)."""
    marker = outdir / MARKER
    with contextlib.suppress(OSError):
        if marker.read_text() == entry.name and (outdir / "manifest.json").is_file():
            return
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(entry, outdir, copy_function=_link_or_copy, symlinks=True)
    marker.write_text(entry.name)  # last: a copy cut short has no marker


def _prune(root: Path, keep: int, current: Path) -> None:
    """Remove all but the `keep` most recently used entries; an entry another process holds the
    lock of (it is reading or writing it) stays."""
    entries: list[tuple[float, Path]] = []
    for path in root.iterdir():
        if not _ENTRY.fullmatch(path.name):
            continue  # a lock, a key's inputs, the asset-zips folder
        with contextlib.suppress(OSError):  # another process removed it meanwhile
            if path.is_dir():
                entries.append((path.stat().st_mtime, path))
    entries.sort(reverse=True)
    kept = 0
    for _, path in entries:
        staging = path.name.startswith(".")  # .<key>.<pid>.tmp: left by a synth killed half-way
        if not staging:
            kept += 1
            if path == current or kept <= keep:
                continue
        key = path.name.split(".")[1] if staging else path.name
        with _locked(root / f"{key}.lock", wait=False) as ours:
            if ours:  # nobody reads or writes this key now
                shutil.rmtree(path, ignore_errors=True)
                if not staging:
                    (root / f"{key}.json").unlink(missing_ok=True)


def cached_synth(
    app: str,
    arguments: Mapping[str, Any],
    synth: Callable[[Path], Path],
    outdir: Path,
    *,
    cache: Path | Literal["env"] | None = "env",
    keep: int = KEEP,
    package: Path | None = None,
) -> Path:
    """`outdir` holding `synth(outdir)`'s assembly: from the cache when an entry has this input's
    key, else synthesized into a new entry first. `cache`: the directory ("env": cache_dir();
    None: no cache, `synth(outdir)` as it is). The assembly's files are hard links to the entry's
    where the filesystem allows: read them, do not write into them. `package`: the source tree
    hashed into the key (default: the dtrain package this process runs)."""
    root = cache_dir() if cache == "env" else cache
    if root is None:
        return synth(outdir)
    root.mkdir(parents=True, exist_ok=True)
    inputs = synth_inputs(app, arguments, package)
    key = cache_key(inputs)
    entry = root / key
    with _locked(root / f"{key}.lock"):
        if (entry / "manifest.json").is_file():
            os.utime(entry)  # most recently used
        else:
            staging = root / f".{key}.{os.getpid()}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(entry, ignore_errors=True)  # an entry without a manifest is no entry
            try:
                synth(staging)
                if not (staging / "manifest.json").is_file():
                    raise RuntimeError(f"the {app} synth wrote no manifest.json to {staging}")
                # What made this key, for whoever wonders why a tree missed.
                (root / f"{key}.json").write_text(json.dumps(inputs, indent=1, default=str) + "\n")
                staging.rename(entry)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        _materialize(entry, outdir)
    _prune(root, keep, entry)
    return outdir


def stored_bytes(folder: str, name: str, make: Callable[[], bytes], *, keep: int) -> bytes:
    """`make()`'s bytes kept as <cache>/<folder>/<name> for later processes (the emulator's zip of
    a staged asset, named by its content's hash); `make()` alone when the cache is off. Written
    under a temporary name and renamed; the `keep` most recently used files are kept."""
    root = cache_dir()
    if root is None:
        return make()
    stored = root / folder / name
    with contextlib.suppress(OSError):
        body = stored.read_bytes()
        os.utime(stored)  # most recently used
        return body
    body = make()
    stored.parent.mkdir(parents=True, exist_ok=True)
    staging = stored.with_name(f".{name}.{os.getpid()}.tmp")
    staging.write_bytes(body)
    staging.replace(stored)
    files: list[tuple[float, Path]] = []
    for path in stored.parent.iterdir():
        with contextlib.suppress(OSError):
            if not path.name.startswith("."):
                files.append((path.stat().st_mtime, path))
    for _, path in sorted(files, reverse=True)[keep:]:
        path.unlink(missing_ok=True)
    return body
