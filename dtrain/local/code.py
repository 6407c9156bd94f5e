"""Puts the training code where SageMaker's containers have it: each host's code/ dir.

- an explicit code dir (a spec's local source_dir): its files, by the same rule as submit's
  tarball (dtrain/jobspec/source_tree.py: links inside followed, links out of it skipped);
- a packaged image (`ddp`, `horovod`): training_code/<image>/ plus training_code/common/ as
  the package `common`, exactly the image's baked code that the toolkit copies to /opt/ml/code;
- a source tarball on S3 (sagemaker_submit_directory s3://...tar.gz): downloaded, extracted.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path

from dtrain.jobspec.source_tree import collect_source_tree
from dtrain.local.config import training_code_dir
from dtrain.local.errors import LocalModeError
from dtrain.local.layout import HostTree
from dtrain.local.s3 import download_object

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".pytest_cache")
BAKED_CODE_DIR = (
    "/opt/dtrain/code"  # the images' baked code (dtrain.requests.training_request.CODE_DIR_IN_IMAGE)
)


def _copy_into(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, ignore=IGNORED, dirs_exist_ok=True, symlinks=True)


def stage_packaged_image(image: str, dest: Path) -> None:
    root = training_code_dir()
    image_dir, common = root / image, root / "common"
    for needed in (image_dir, common):
        if not needed.is_dir():
            raise LocalModeError(f"packaged image '{image}' needs {needed}, which does not exist")
    _copy_into(image_dir, dest)
    _copy_into(common, dest / "common")


def stage_code(
    *,
    hosts: Sequence[HostTree],
    code_dir: Path | None,
    packaged_image: str | None,
    submit_directory: str | None,
    training_image: str,
    scratch: Path,
) -> None:
    first = hosts[0].code_dir
    if code_dir is not None:
        source = Path(code_dir)
        if source.is_file():
            # A lone local entry point (no source_dir): SDK v2 uploads just that file.
            shutil.copy2(source, first / source.name)
        elif source.is_dir():
            for real, name in collect_source_tree(source).files:
                target = first / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(real, target)
        else:
            raise LocalModeError(f"source code {code_dir} does not exist")
    elif packaged_image is not None and submit_directory in (None, BAKED_CODE_DIR):
        stage_packaged_image(packaged_image, first)
    elif submit_directory and submit_directory.startswith("s3://"):
        tarball = download_object(
            submit_directory, scratch / "sourcedir.tar.gz", what="source code", hint="pass a local source_dir"
        )
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(first, filter="data")
    elif packaged_image is not None and submit_directory:
        raise LocalModeError(f"sagemaker_submit_directory {submit_directory} is not reachable locally")
    else:
        raise LocalModeError(
            f"image {training_image} is not a packaged image (ddp, horovod) known to local mode and the "
            "job has no source code to run; map the image in the local config's 'images' or pass a source_dir"
        )
    for tree in hosts[1:]:
        _copy_into(first, tree.code_dir)
