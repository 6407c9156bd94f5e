"""Which files of a local `source_dir` ship with a job: one rule for submit's tarball and for
local mode's copy, so that a job runs the same code in both.

SDK v2 (sagemaker/utils.py `create_tar_file`) tars with `dereference=True`: every symbolic
link is followed, wherever it points, without a word: a link to /etc/passwd puts that file's
contents in S3. Our rule keeps what is useful in that and drops the rest, saying so:

- a link to a file or directory INSIDE source_dir is followed (its contents ship under the
  link's name, as with the SDK);
- a link pointing OUTSIDE source_dir, a dangling link, a link loop and anything that is not a
  regular file or directory (a socket, a FIFO) are skipped, and `skipped` names each one, for
  the command to print;
- caches (__pycache__, .git, *.pyc ...) are left out, as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass
class SourceTree:
    root: Path
    # (the real file to read, its name inside the tarball / code dir), sorted by name
    files: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def skipped_note(self, limit: int = 5) -> str | None:
        """One line naming what was skipped, or None."""
        if not self.skipped:
            return None
        shown = "; ".join(self.skipped[:limit])
        more = f"; and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        return f"skipped in source_dir {self.root}: {shown}{more}"


def collect_source_tree(root: Path) -> SourceTree:
    tree = SourceTree(root)
    real_root = root.resolve()
    _walk(root, real_root, "", tree, ancestors=(real_root,))
    tree.files.sort(key=lambda item: item[1])
    return tree


def _inside(path: Path, real_root: Path) -> bool:
    return path == real_root or path.is_relative_to(real_root)


def _walk(
    directory: Path, real_root: Path, prefix: str, tree: SourceTree, ancestors: tuple[Path, ...]
) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        tree.skipped.append(f"{prefix or '.'} (unreadable: {exc.strerror or exc})")
        return
    for entry in entries:
        name = f"{prefix}{entry.name}"
        if entry.name in SKIPPED_DIRS or entry.name.endswith(SKIPPED_SUFFIXES):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            target_text = os.readlink(path)
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                tree.skipped.append(f"{name} -> {target_text} (dangling link)")
                continue
            if not _inside(target, real_root):
                tree.skipped.append(f"{name} -> {target_text} (points outside source_dir)")
                continue
            if target.is_dir():
                if target in ancestors:
                    tree.skipped.append(f"{name} -> {target_text} (link loop)")
                    continue
                _walk(target, real_root, f"{name}/", tree, (*ancestors, target))
            elif target.is_file():
                tree.files.append((target, name))
            else:
                tree.skipped.append(f"{name} (not a regular file)")
        elif entry.is_dir(follow_symlinks=False):
            _walk(path, real_root, f"{name}/", tree, (*ancestors, path.resolve()))
        elif entry.is_file(follow_symlinks=False):
            tree.files.append((path, name))
        else:
            tree.skipped.append(f"{name} (not a regular file)")
