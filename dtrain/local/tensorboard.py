"""TensorBoardOutputConfig locally: the LocalPath exists on every host, its files are kept.

SageMaker creates TensorBoardOutputConfig.LocalPath (default /opt/ml/output/tensorboard,
API reference, TensorBoardOutputConfig) in the container and syncs what the script writes
there to S3OutputPath. Here each host tree stands for /opt/ml, so a LocalPath under /opt/ml
is that path in the tree (SM_OUTPUT_DIR/tensorboard by default) and any other one is the
container path below the tree's root; after the run the files of every host are copied to
the job's artifacts, `tensorboard/<host>/`, the stand-in for S3OutputPath.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dtrain.local.layout import HostTree, JobLayout

DEFAULT_LOCAL_PATH = "/opt/ml/output/tensorboard"
CONTAINER_BASE = "/opt/ml"


def host_dir(request: Mapping[str, Any], tree: HostTree) -> Path | None:
    config = request.get("TensorBoardOutputConfig")
    if not config:
        return None
    local = str(config.get("LocalPath") or DEFAULT_LOCAL_PATH).rstrip("/")
    relative = local[len(CONTAINER_BASE) :] if local.startswith(CONTAINER_BASE + "/") else local
    return tree.base / relative.lstrip("/")


def make_dirs(request: Mapping[str, Any], layout: JobLayout) -> None:
    for tree in layout.hosts:
        path = host_dir(request, tree)
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)


def collect(request: Mapping[str, Any], layout: JobLayout) -> Path | None:
    """The hosts' TensorBoard files under the job's artifacts (what S3OutputPath would hold)."""
    target = layout.artifacts_dir / "tensorboard"
    for tree in layout.hosts:
        path = host_dir(request, tree)
        if path is not None and path.is_dir():
            shutil.copytree(path, target / tree.name, dirs_exist_ok=True)
    return target if target.is_dir() else None
