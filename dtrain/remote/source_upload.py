"""Packaging a spec's local `source_dir` as sourcedir.tar.gz and uploading it where the job reads it.

Like SageMaker Python SDK v2, the directory's contents go at the root of the tarball and the
job's `sagemaker_submit_directory` points at it. Unlike the SDK, the tarball is byte-for-byte
reproducible (sorted entries, fixed times and owners, no bytecode caches): the same code gives
the same digest, which feeds the execution name, so re-submitting unchanged code is a no-op.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtrain.jobspec.source_tree import collect_source_tree
from dtrain.remote.errors import UsageError

SOURCE_TARBALL = "sourcedir.tar.gz"


@dataclass
class SourceTarball:
    directory: Path
    data: bytes
    digest: str  # sha256 hex of `data`
    files: int
    # What the source-tree rule left out (links out of source_dir...): one line, or None.
    skipped_note: str | None = None


PACKAGED_IMAGES = ("ddp", "horovod")


def is_local_source(source_dir: object) -> bool:
    return isinstance(source_dir, str) and bool(source_dir) and "://" not in source_dir


def pack_spec_code(estimator: dict[str, Any], spec_path: Path) -> SourceTarball | None:
    """The code this spec must upload, or None (an s3:// tarball, or code baked in the image)."""
    source_dir = estimator.get("source_dir")
    entry_point = estimator.get("entry_point")
    entry = entry_point if isinstance(entry_point, str) else None
    # SDK 2.220 `dependencies`: each directory goes into the tarball under its own name.
    deps = [resolve_dependency(str(d), spec_path) for d in estimator.get("dependencies") or ()]
    if is_local_source(source_dir):
        return pack_source_dir(
            resolve_source_dir(str(source_dir), spec_path), entry_point=entry, dependencies=deps
        )
    if source_dir is None and estimator.get("image_uri") not in PACKAGED_IMAGES and entry:
        return pack_entry_point(resolve_local_path(entry, spec_path), dependencies=deps)
    return None


def resolve_dependency(path: str, spec_path: Path) -> Path:
    directory = resolve_local_path(path, spec_path)
    if not directory.is_dir():
        raise UsageError(f"estimator.dependencies: {path!r}: is not a directory")
    return directory


def _dependency_files(dependencies: list[Path]) -> list[tuple[Path, str]]:
    return [
        (real, f"{dep.name}/{name}") for dep in dependencies for real, name in collect_source_tree(dep).files
    ]


def resolve_local_path(path: str, spec_path: Path) -> Path:
    """A relative path is taken relative to the spec file (as the core does), else to the cwd."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        beside_spec = spec_path.parent / candidate
        candidate = beside_spec if beside_spec.exists() else Path.cwd() / candidate
    return candidate.resolve()


def resolve_source_dir(source_dir: str, spec_path: Path) -> Path:
    directory = resolve_local_path(source_dir, spec_path)
    if not directory.is_dir():
        raise UsageError(f"estimator.source_dir: {source_dir!r}: is not a directory")
    return directory


def pack_source_dir(
    directory: Path, *, entry_point: str | None = None, dependencies: list[Path] | None = None
) -> SourceTarball:
    """Tar + gzip the directory's contents reproducibly; checks that the entry point is in it."""
    if entry_point and not (directory / entry_point).is_file():
        raise UsageError(
            f"estimator.entry_point: {entry_point!r}: not found in source_dir {str(directory)!r}"
        )
    tree = collect_source_tree(directory)
    tarball = _pack(directory, tree.files + _dependency_files(dependencies or []))
    tarball.skipped_note = tree.skipped_note()
    return tarball


def pack_entry_point(script: Path, *, dependencies: list[Path] | None = None) -> SourceTarball:
    """A spec without source_dir and without a packaged image ships its entry point alone (as SDK v2)."""
    if not script.is_file():
        raise UsageError(f"estimator.entry_point: {str(script)!r}: no such file to upload")
    return _pack(script.parent, [(script.resolve(), script.name), *_dependency_files(dependencies or [])])


def _pack(root: Path, files: list[tuple[Path, str]]) -> SourceTarball:
    """`files`: (the real file to read, its name in the tarball); links are already resolved."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, name in files:
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            # Keep the executable bit (scripts), drop everything that varies between checkouts.
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    data = packed.getvalue()
    return SourceTarball(root, data, hashlib.sha256(data).hexdigest(), len(files))


def source_key(execution_name: str) -> str:
    """The key under the artifacts bucket: `<job>/source/sourcedir.tar.gz` (see interfaces)."""
    return f"{execution_name}/source/{SOURCE_TARBALL}"


def inference_code_key(execution_name: str) -> str:
    """Where a deploy / transform block's local inference code goes:
    `<execution>/source/inference/sourcedir.tar.gz` (the Submit Lambda reads it to repack the
    model; the submitter policy may put it)."""
    return f"{execution_name}/source/inference/{SOURCE_TARBALL}"


INFERENCE_BLOCKS = ("deploy", "transform")


def pack_inference_code(raw_spec: Any, spec_path: Path) -> tuple[str, SourceTarball] | None:
    """A deploy / transform block's local inference code (entry_point, with its source_dir when
    given) packed as the SDK's repack copies it into code/, or None (no code of its own, or an
    s3:// source_dir, used as is)."""
    for block in INFERENCE_BLOCKS:
        got = raw_spec.get(block) if isinstance(raw_spec, dict) else None
        entry = got.get("entry_point") if isinstance(got, dict) else None
        if not isinstance(entry, str):
            continue
        assert isinstance(got, dict)
        source_dir = got.get("source_dir")
        if is_local_source(source_dir):
            directory = resolve_local_path(str(source_dir), spec_path)
            if not directory.is_dir():
                raise UsageError(f"{block}.source_dir: {source_dir!r}: is not a directory")
            if not (directory / entry).is_file():
                raise UsageError(
                    f"{block}.entry_point: {entry!r}: not found in source_dir {str(directory)!r}"
                )
            return block, pack_source_dir(directory)
        if source_dir is None:
            script = resolve_local_path(entry, spec_path)
            if not script.is_file():
                raise UsageError(f"{block}.entry_point: {entry!r}: no such file to upload")
            return block, pack_entry_point(script)
    return None


def processing_code_key(execution_name: str, script: Path) -> str:
    """Where a spec's local processing script goes: `<execution>/source/processing/<file>`, beside
    the source tarball (the execution role reads it; the submitter policy may put it)."""
    return f"{execution_name}/source/processing/{script.name}"


@dataclass
class ProcessingScript:
    path: Path
    data: bytes
    digest: str  # sha256 hex: feeds the execution name, as the tarball's does


def read_processing_script(raw_spec: Any, spec_path: Path) -> ProcessingScript | None:
    """The spec's local `processing.run.code` file (relative to the spec's folder), or None when
    there is none or it is an s3:// URI already."""
    processing = raw_spec.get("processing") if isinstance(raw_spec, dict) else None
    code = ((processing or {}).get("run") or {}).get("code") if isinstance(processing, dict) else None
    if not isinstance(code, str) or "://" in code:
        return None
    path = Path(code) if Path(code).is_absolute() else spec_path.parent / code
    if not path.is_file():
        raise UsageError(f"processing.run.code: {code!r}: no such file to upload")
    data = path.read_bytes()
    return ProcessingScript(path, data, hashlib.sha256(data).hexdigest())


def upload_processing_script(s3_client: Any, bucket: str, key: str, script: ProcessingScript) -> str:
    s3_client.put_object(Bucket=bucket, Key=key, Body=script.data, Metadata={"sha256": script.digest})
    return f"s3://{bucket}/{key}"


def upload_source(s3_client: Any, bucket: str, key: str, tarball: SourceTarball) -> str:
    """Upload the tarball (idempotent: same key, same bytes) and return its s3:// URI."""
    s3_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=tarball.data,
        ContentType="application/gzip",
        Metadata={"sha256": tarball.digest},
    )
    return f"s3://{bucket}/{key}"
