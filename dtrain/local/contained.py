"""Paths built from user input, kept inside the folder they belong to.

An S3 key, a processing LocalPath or a job name becomes a path under some root of local mode
(the S3 stand-in `<workdir>/s3/<bucket>/`, a host's `/opt/ml` tree, `<workdir>/processing/`).
S3 keeps `..` in a key as two dots, and a spec or a CreateProcessingJob request sent to the
emulator can carry one: joined naively, `s3://../../victim` became `<workdir>/../victim`, which
the output step then removed. Every such join goes through `inside`.

The check is lexical (`..` and absolute parts are folded, symlinks are not followed): a user
may link a bucket's folder of the stand-in to another disk on purpose; what is refused is a
name that walks out of its root by itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from dtrain.local.errors import LocalModeError


def inside(root: Path, relative: str, *, what: str) -> Path:
    """`root/relative`, normalized; LocalModeError (naming `what`) when it is not under root.

    `relative` is taken as relative even when it starts with '/', as an S3 key's path part does.
    """
    base = Path(os.path.abspath(root))
    joined = Path(os.path.normpath(base / relative.lstrip("/")))
    if joined != base and base not in joined.parents:
        raise LocalModeError(f"{what}: {relative!r} leads outside {base}")
    return joined


def strictly_inside(root: Path, relative: str, *, what: str) -> Path:
    """`inside`, and not `root` itself (a folder that will be replaced or written as a whole)."""
    joined = inside(root, relative, what=what)
    if joined == Path(os.path.abspath(root)):
        raise LocalModeError(f"{what}: {relative!r} names {joined} itself, not a folder under it")
    return joined
