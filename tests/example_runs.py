"""One `dtrain local` run of an example per test session, shared by the test files that need it.

tests/local/test_examples_local.py asserts that every example trains through `dtrain local`;
tests/serving/test_every_trainer_served.py serves the archive each trainer writes. Both ran the
same trainer on the same tiny data with the same hyperparameters, so each Horovod/TensorFlow
trainer was trained twice per session (20-65 s a run on 2 cores). Now the first test to ask
runs it (a real run, in-process, as before) and records its exit code, its stdout and stderr;
the other test, on this xdist worker or another, waits on the example's lock file and reads that
record and the run's folder. A run that raised leaves no record, so the next caller runs it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dtrain.cli import main
from dtrain.commands.data_cmd import make_cifar10_sample
from dtrain.local.config import repo_root, training_code_dir

REPO = repo_root()
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"
# Small enough for seconds per run on 2 cores, big enough for a few steps.
TINY_HPS = ("epochs=1", "batch_size=16", "width=4", "max_steps=3")


@dataclass(frozen=True)
class ExampleRun:
    code: int
    stdout: str
    stderr: str
    workdir: Path

    @property
    def archive(self) -> Path:
        """The job's model.tar.gz (exactly one job per run)."""
        (archive,) = (self.workdir / "jobs").glob("*/output/model.tar.gz")
        return archive


class ExampleRuns:
    """`run(example_path, hosts=None)`: the example's tiny `dtrain local` run, made once under `root`
    (a directory every xdist worker of the session sees). Each channel gets the CIFAR-10 sample
    (128 train, 32 test images); a TensorFlow example on the horovod image gets it as TFRecords."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, example: Path, *, hosts: int | None = None) -> ExampleRun:
        spec = json.loads(example.read_text())
        key = example.stem + (f"-{hosts}-hosts" if hosts else "")
        folder = self.root / key
        with self._locked(key):
            record = folder / "run.json"
            if not record.is_file():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                code, out, err = self._train(spec, example, folder / "work", hosts)
                staged = folder / "run.json.part"
                staged.write_text(json.dumps({"code": code, "stdout": out, "stderr": err}))
                staged.rename(record)  # only a finished run is ever read
            saved = json.loads(record.read_text())
        return ExampleRun(saved["code"], saved["stdout"], saved["stderr"], folder / "work")

    def _train(
        self, spec: dict[str, object], example: Path, workdir: Path, hosts: int | None
    ) -> tuple[int, str, str]:
        data = self.cifar()
        estimator = spec["estimator"]
        assert isinstance(estimator, dict)
        if estimator.get("image_uri") == "horovod" and spec["framework"] == "tensorflow":
            data = self.tfrecords()  # the Keras trainers read TFRecords
        args = ["local", str(example), "--workdir", str(workdir), "--no-live"]
        for channel in spec["inputs"]:  # type: ignore[union-attr]
            args += ["--data", f"{channel}={data}"]
        for hp in TINY_HPS:
            args += ["--set", hp]
        if hosts:
            args += ["--hosts", str(hosts)]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        return code, out.getvalue(), err.getvalue()

    def cifar(self) -> Path:
        directory = self.root / "cifar10-sample"
        with self._locked("cifar10-sample"):
            done = self.root / "cifar10-sample.done"  # beside the channel data, not in it
            if not done.is_file():
                shutil.rmtree(directory, ignore_errors=True)
                make_cifar10_sample(directory, train=128, test=32)
                done.write_text("")
        return directory

    def tfrecords(self) -> Path:
        """TFRecords of the sample, written by the data script under TensorFlow (in .venv-hvd)."""
        assert HVD_PYTHON.exists(), f"{HVD_PYTHON} missing: run make setup (scripts/setup_horovod.sh)"
        source = self.cifar()
        directory = self.root / "cifar10-tfrecords"
        with self._locked("cifar10-tfrecords"):
            done = self.root / "cifar10-tfrecords.done"
            if not done.is_file():
                shutil.rmtree(directory, ignore_errors=True)
                directory.mkdir(parents=True)
                script = training_code_dir() / "data" / "prepare_cifar10.py"
                subprocess.run(
                    [str(HVD_PYTHON), str(script), "tfrecord", str(source), str(directory)], check=True
                )
                done.write_text("")
        return directory

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield
