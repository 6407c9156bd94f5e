"""Symbolic links in a local source_dir: one rule for submit's tarball and local mode's copy.

Links inside source_dir are followed (as SDK v2's dereferencing tar does); links out of it,
dangling links and loops are skipped and named. The rule lives in dtrain/jobspec/source_tree.py.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dtrain.jobspec.source_tree import collect_source_tree
from dtrain.local.code import stage_code
from dtrain.local.layout import JobLayout
from dtrain.remote.source_upload import pack_source_dir
from tests.hostile.support import Outcome


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print('train')\n")
    (src / "pkg" / "mod.py").write_text("X = 1\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload\n")
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "other.py").write_text("Y = 2\n")
    (src / "passwd").symlink_to("/etc/passwd")
    (src / "secret").symlink_to(secret)
    (src / "outside_dir").symlink_to(outside_dir)
    (src / "dangling").symlink_to(tmp_path / "gone")
    (src / "loop").symlink_to(src)
    (src / "alias.py").symlink_to(src / "train.py")
    (src / "pkg_link").symlink_to(src / "pkg")
    return src


SHIPPED = ["alias.py", "pkg/mod.py", "pkg_link/mod.py", "train.py"]
SKIPPED = ["dangling", "loop", "outside_dir", "passwd", "secret"]


def test_the_rule(source: Path) -> None:
    tree = collect_source_tree(source)
    assert [name for _, name in tree.files] == SHIPPED
    assert sorted(s.split(" ")[0] for s in tree.skipped) == SKIPPED
    note = tree.skipped_note(limit=10)
    assert note is not None and "\n" not in note
    assert "passwd -> /etc/passwd (points outside source_dir)" in note and "(dangling link)" in note


def test_submit_tarball_follows_links_inside_only(source: Path) -> None:
    tarball = pack_source_dir(source, entry_point="train.py")
    with tarfile.open(fileobj=io.BytesIO(tarball.data), mode="r:gz") as archive:
        members = archive.getmembers()
        assert sorted(m.name for m in members) == SHIPPED
        assert all(m.isfile() for m in members)  # links arrive as the files they point to
        assert b"root:" not in b"".join(archive.extractfile(m).read() for m in members)  # type: ignore[union-attr]
    assert tarball.skipped_note and "points outside source_dir" in tarball.skipped_note


def test_local_copy_follows_the_same_rule(source: Path, tmp_path: Path) -> None:
    layout = JobLayout.for_job(tmp_path / "work", "job", 2)
    for tree in layout.hosts:
        tree.code_dir.mkdir(parents=True, exist_ok=True)
    stage_code(hosts=layout.hosts, code_dir=source, packaged_image=None, submit_directory=None,
               training_image="x", scratch=tmp_path / "scratch")  # fmt: skip
    for tree in layout.hosts:
        copied = sorted(
            p.relative_to(tree.code_dir).as_posix() for p in tree.code_dir.rglob("*") if p.is_file()
        )
        assert copied == SHIPPED
        assert not any(p.is_symlink() for p in tree.code_dir.rglob("*"))


def test_local_command_says_what_it_skipped(
    cli: Callable[..., Outcome], source: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"framework": "pytorch", "job_name": "links", "estimator": {
        "entry_point": "train.py", "source_dir": str(source), "image_uri": "ddp",
        "instance_type": "ml.m5.large", "instance_count": 1}}))  # fmt: skip
    outcome = cli("local", str(spec), "--no-live", "--workdir", str(tmp_path / "w"))
    assert outcome.code == 0, outcome.stderr
    notes = [line for line in outcome.stderr.splitlines() if line.startswith("note: skipped in source_dir")]
    assert len(notes) == 1 and "passwd -> /etc/passwd (points outside source_dir)" in notes[0]
