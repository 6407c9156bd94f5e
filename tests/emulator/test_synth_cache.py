"""The synth cache (dtrain.emulator.synth_cache): one synthesis per input.

The cache's rules are checked with a small synth function over a small source tree (no CDK); one
test checks the real thing: once the session has synthesized the platform for the emulator, a new
process gets the same assembly without loading the CDK.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtrain.emulator import synth_cache
from dtrain.emulator.platform_app import synth_for_emulator
from dtrain.emulator.synth_cache import MARKER, cached_synth


class CountingSynth:
    """Writes a one-stack assembly and counts its calls in a file (so across processes too)."""

    def __init__(self, counter: Path, *, delay: float = 0.0) -> None:
        self.counter = counter
        self.delay = delay

    def __call__(self, outdir: Path) -> Path:
        with self.counter.open("a") as handle:
            handle.write("synth\n")
        time.sleep(self.delay)
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / "Stack.template.json").write_text(json.dumps({"Resources": {}}))
        (outdir / "manifest.json").write_text(json.dumps({"version": "1", "artifacts": {}}))
        return outdir

    @property
    def calls(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    tree = tmp_path / "sources"
    (tree / "constructs").mkdir(parents=True)
    (tree / "constructs" / "stack.py").write_text("BUCKETS = 1\n")
    (tree / "cdk.json").write_text('{"context": {"stack_prefix": "Dtrain"}}\n')
    return tree


def test_an_unchanged_input_is_synthesized_once_and_a_changed_one_again(
    sources: Path, tmp_path: Path
) -> None:
    synth = CountingSynth(tmp_path / "calls")
    cache = tmp_path / "cache"

    def run(name: str, arguments: dict[str, object]) -> Path:
        return cached_synth(
            "app", arguments, synth, tmp_path / name / "cdk.out", cache=cache, package=sources
        )

    first = run("a", {"context": {"emulator": True}})
    second = run("b", {"context": {"emulator": True}})
    assert synth.calls == 1  # the second came from the cache
    assert (second / "manifest.json").read_text() == (first / "manifest.json").read_text()
    assert (second / "Stack.template.json").is_file()

    (sources / "constructs" / "stack.py").write_text("BUCKETS = 2\n")  # one source file changes
    run("c", {"context": {"emulator": True}})
    assert synth.calls == 2
    run("d", {"context": {"emulator": False}})  # the same tree, another context
    assert synth.calls == 3
    (sources / "cdk.json").write_text('{"context": {"stack_prefix": "Other"}}\n')  # cdk.json's context
    run("e", {"context": {"emulator": False}})
    assert synth.calls == 4
    run("f", {"context": {"emulator": False}})
    assert synth.calls == 4
    # __pycache__ is no input: importing the sources does not change the key.
    (sources / "constructs" / "__pycache__").mkdir()
    (sources / "constructs" / "__pycache__" / "stack.cpython-311.pyc").write_bytes(b"\0")
    run("g", {"context": {"emulator": False}})
    assert synth.calls == 4


def test_an_outdir_that_holds_the_entry_is_kept_and_another_entry_replaces_it(
    sources: Path, tmp_path: Path
) -> None:
    """The demo's cdk.out, run after run: the same key leaves the tree as it is (removing ~1,000
    folders to make them again cost seconds); another key's tree replaces it whole, and a copy
    cut short (no marker) is made again."""
    synth = CountingSynth(tmp_path / "calls")
    cache = tmp_path / "cache"
    outdir = tmp_path / "demo" / "cdk.out"

    def run(context: dict[str, object]) -> Path:
        return cached_synth("app", {"context": context}, synth, outdir, cache=cache, package=sources)

    run({"emulator": True})
    (outdir / "left-by-a-reader").write_text("")
    folder = outdir.stat().st_ino
    run({"emulator": True})
    assert outdir.stat().st_ino == folder and (outdir / "left-by-a-reader").exists()
    run({"emulator": False})
    assert not (outdir / "left-by-a-reader").exists()
    assert (outdir / "manifest.json").is_file() and synth.calls == 2
    (outdir / MARKER).unlink()  # as a copy cut short leaves it
    (outdir / "left-by-a-reader").write_text("")
    run({"emulator": False})
    assert not (outdir / "left-by-a-reader").exists() and (outdir / MARKER).is_file()
    assert synth.calls == 2


def test_a_failed_synth_leaves_no_entry(sources: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    def broken(outdir: Path) -> Path:
        outdir.mkdir(parents=True)
        (outdir / "half.template.json").write_text("{")
        raise RuntimeError("synth failed")

    with pytest.raises(RuntimeError, match="synth failed"):
        cached_synth("app", {}, broken, tmp_path / "a", cache=cache, package=sources)
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == []  # no entry, no staging left
    synth = CountingSynth(tmp_path / "calls")
    cached_synth("app", {}, synth, tmp_path / "b", cache=cache, package=sources)
    assert synth.calls == 1


def test_the_least_recently_used_entries_are_pruned(sources: Path, tmp_path: Path) -> None:
    synth = CountingSynth(tmp_path / "calls")
    cache = tmp_path / "cache"

    def run(n: int) -> None:
        cached_synth("app", {"n": n}, synth, tmp_path / "out", cache=cache, keep=2, package=sources)

    run(0)
    run(1)
    time.sleep(0.01)
    run(0)  # used again: now the most recent
    run(2)  # three entries: 1 is the least recently used
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2
    assert synth.calls == 3
    run(0)
    run(2)
    assert synth.calls == 3  # both kept
    run(1)
    assert synth.calls == 4  # pruned, synthesized again


def _synth_in_child(cache: str, sources: str, counter: str, outdir: str) -> None:
    synth = CountingSynth(Path(counter), delay=0.5)
    cached_synth("app", {}, synth, Path(outdir), cache=Path(cache), package=Path(sources))


def test_concurrent_callers_of_one_input_synthesize_it_once(sources: Path, tmp_path: Path) -> None:
    """Two processes (two pytest-xdist workers, a demo beside `dtrain emulate up`) ask for the same
    input at once: the second waits on the key's lock and takes the first's entry."""
    counter = tmp_path / "calls"
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=_synth_in_child,
            args=(str(tmp_path / "cache"), str(sources), str(counter), str(tmp_path / n)),
        )
        for n in ("a", "b")
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert CountingSynth(counter).calls == 1
    assert (tmp_path / "a" / "manifest.json").is_file() and (tmp_path / "b" / "manifest.json").is_file()


def test_off_synthesizes_every_time(sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(synth_cache.CACHE_ENV, "off")
    assert synth_cache.cache_dir() is None
    synth = CountingSynth(tmp_path / "calls")
    cached_synth("app", {}, synth, tmp_path / "a", package=sources)
    cached_synth("app", {}, synth, tmp_path / "b", package=sources)
    assert synth.calls == 2
    monkeypatch.delenv(synth_cache.CACHE_ENV)
    assert synth_cache.cache_dir() == (Path.cwd() / ".dtrain" / "synth-cache")


def test_the_platform_comes_from_the_cache_without_the_cdk(
    emulator_app_assembly: Path, synth_cache_dir: Path, tmp_path: Path
) -> None:
    """The session synthesized the platform for the emulator (emulator_app_assembly) through the
    cache; a new process (a second `make demo`, `dtrain emulate up`) gets the same templates and
    never starts the CDK's jsii runtime. In-process first: a hit too, unless this session's cache
    did not hold it yet, when it synthesizes (~15 s) and the child's check still holds."""
    synth_for_emulator(tmp_path / "first", cache=synth_cache_dir)
    code = (
        "import sys; from pathlib import Path\n"
        "from dtrain.emulator.platform_app import synth_for_emulator\n"
        f"synth_for_emulator(Path({str(tmp_path / 'second')!r}), cache=Path({str(synth_cache_dir)!r}))\n"
        "print('aws_cdk' in sys.modules, 'jsii' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"], done.stderr
    for template in emulator_app_assembly.glob("*.template.json"):
        assert (tmp_path / "second" / template.name).read_text() == template.read_text()
    assert sorted(p.name for p in (tmp_path / "second").iterdir()) == sorted(
        p.name for p in emulator_app_assembly.iterdir()
    )


def test_a_source_tree_on_the_path_is_no_installed_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build leaves dtrain.egg-info in the checkout, which is on sys.path in the test session
    but not in a `dtrain emulate up` started elsewhere: it must not change the key."""
    site = tmp_path / "site-packages"
    (site / "aws_cdk_lib-2.0.0.dist-info").mkdir(parents=True)
    checkout = tmp_path / "checkout"
    (checkout / "dtrain.egg-info").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'dtrain'\n")
    monkeypatch.setattr(sys, "path", [str(site), str(checkout), ""])
    assert synth_cache.installed_distributions() == ["aws_cdk_lib-2.0.0"]


def test_the_key_leaves_out_what_no_synth_reads_and_a_wheel_does_not_carry(sources: Path) -> None:
    """bundled/examples (job specs, the team's example app) and the modules' notes are in a
    checkout's package, not in a wheel's: an install and its checkout share one key. A note under
    bundled/ may be part of an asset (training_code/ is the images' build context): it counts."""
    before = synth_cache.tree_digest(sources)
    (sources / "bundled" / "examples" / "platform_app").mkdir(parents=True)
    (sources / "bundled" / "examples" / "platform_app" / "app.py").write_text("print()\n")
    (sources / "bundled" / "examples" / "spec.json").write_text("{}\n")
    (sources / "emulator").mkdir(exist_ok=True)
    (sources / "emulator" / "README.md").write_text("# notes\n")
    assert synth_cache.tree_digest(sources) == before
    (sources / "bundled" / "training_code").mkdir(parents=True)
    (sources / "bundled" / "training_code" / "README.md").write_text("# in the image\n")
    assert synth_cache.tree_digest(sources) != before
