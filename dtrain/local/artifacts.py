"""model.tar.gz and output.tar.gz, packed as SageMaker packs /opt/ml/model and
/opt/ml/output/data: a gzipped tar of the directory's contents, paths relative to it.
With OutputDataConfig.CompressionType NONE (SDK disable_output_compression) SageMaker
uploads the files uncompressed ("Select None to output an uncompressed model", API
reference, OutputDataConfig): copy_dirs lays them out as directories instead.

With several hosts, every host's model dir goes into the one archive (SageMaker uploads each
instance's files to the same key prefix); the first host's file wins a name clash, which is
why only rank 0 should write the model.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path


def pack_dirs(sources: Sequence[Path], archive: Path) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with tarfile.open(archive, "w:gz") as tar:
        for source in sources:
            if not source.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(source):
                dirnames.sort()
                for filename in sorted(filenames):
                    path = Path(dirpath) / filename
                    relative = path.relative_to(source).as_posix()
                    if relative in seen:
                        continue
                    seen.add(relative)
                    tar.add(path, arcname=relative, recursive=False)
    return archive


def copy_dirs(sources: Sequence[Path], target: Path) -> Path:
    """The uncompressed counterpart of pack_dirs: the same files, first host's on a clash."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        if not source.is_dir():
            continue
        for path in sorted(source.rglob("*")):
            copy = target / path.relative_to(source)
            if path.is_file() and not copy.exists():
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)
    return target
