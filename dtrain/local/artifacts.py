"""model.tar.gz and output.tar.gz, packed as SageMaker packs /opt/ml/model and
/opt/ml/output/data: a gzipped tar of the directory's contents, paths relative to it.

With several hosts, every host's model dir goes into the one archive (SageMaker uploads each
instance's files to the same key prefix); the first host's file wins a name clash, which is
why only rank 0 should write the model.
"""

from __future__ import annotations

import os
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
