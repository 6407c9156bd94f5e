"""The emulator's deploy zips a staged asset folder once (dtrain.emulator.deploy): its name is
the hash of its content, so a second deploy of the same app reuses the zip, in this process and,
through the synth cache's asset-zips folder, in the next."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from dtrain.emulator import deploy, synth_cache

ASSET = "asset." + "ab" * 32


def _asset(root: Path, name: str, body: str) -> Path:
    folder = root / name
    (folder / "pkg").mkdir(parents=True)
    (folder / "handler.py").write_text(body)
    (folder / "pkg" / "__init__.py").write_text("")
    return folder


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "synth-cache"
    monkeypatch.setenv(synth_cache.CACHE_ENV, str(cache))
    monkeypatch.setattr(deploy, "_ZIPPED", {})
    return cache


def test_a_staged_asset_is_zipped_once_whatever_assembly_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zipped: list[Path] = []
    real = deploy._zip_tree

    def counting(path: Path) -> bytes:
        zipped.append(path)
        return real(path)

    monkeypatch.setattr(deploy, "_zip_tree", counting)
    first = deploy._zip_dir(_asset(tmp_path / "one" / "cdk.out", ASSET, "X = 1\n"))
    again = deploy._zip_dir(_asset(tmp_path / "two" / "cdk.out", ASSET, "X = 1\n"))
    assert again is first and len(zipped) == 1
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert sorted(archive.namelist()) == ["handler.py", "pkg/__init__.py"]
        assert archive.read("handler.py") == b"X = 1\n"
    # A folder not named by its hash is zipped every time.
    plain = _asset(tmp_path, "code", "X = 2\n")
    deploy._zip_dir(plain)
    deploy._zip_dir(plain)
    assert len(zipped) == 3


def test_the_kept_zips_are_bounded(tmp_path: Path) -> None:
    for n in range(deploy._ZIPPED_KEPT + 3):
        deploy._zip_dir(_asset(tmp_path, f"asset.{n:064x}", f"N = {n}\n"))
    assert len(deploy._ZIPPED) == deploy._ZIPPED_KEPT
    assert f"asset.{0:064x}" not in deploy._ZIPPED  # the oldest went first


def test_the_next_process_reads_the_zip_from_the_synth_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _own_cache: Path
) -> None:
    asset = _asset(tmp_path / "cdk.out", ASSET, "X = 1\n")
    first = deploy._zip_dir(asset)
    assert (_own_cache / deploy.ZIPS_FOLDER / f"{ASSET}.zip").read_bytes() == first
    monkeypatch.setattr(deploy, "_ZIPPED", {})  # a new process: nothing in memory

    def no_zip(path: Path) -> bytes:
        raise AssertionError(f"zipped {path} again")

    monkeypatch.setattr(deploy, "_zip_tree", no_zip)
    assert deploy._zip_dir(asset) == first
    # The cache's pruning of synth entries leaves the zips' folder alone.
    synth_cache._prune(_own_cache, 0, _own_cache / "none")
    assert (_own_cache / deploy.ZIPS_FOLDER / f"{ASSET}.zip").is_file()


def test_with_the_cache_off_no_zip_is_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(synth_cache.CACHE_ENV, "off")
    deploy._zip_dir(_asset(tmp_path / "cdk.out", ASSET, "X = 1\n"))
    assert not (tmp_path / "synth-cache").exists()
