"""One `dtrain local` run of an example per test session, shared by the test files that need it.

tests/local/test_examples_local.py asserts that every example trains through `dtrain local`;
tests/serving/test_every_trainer_served.py serves the archive each trainer writes. Both ran the
same trainer on the same tiny data with the same hyperparameters, so each Horovod/TensorFlow
trainer was trained twice per session (20-65 s a run on 2 cores). Now the first test to ask
runs it (a real run, in-process, as before) and records its exit code, its stdout and stderr;
the other test, on this xdist worker or another, waits on the example's lock file and reads that
record and the run's folder. A run that raised leaves no record, so the next caller runs it again.

The files that test one trainer in depth share the same run (issue 32: every job-host costs
~6 CPU-s before a step, a whole run 10-40 CPU-s): PLANS gives their examples the hosts and
hyperparameters those files assert on (tests/local/test_horovod_torch.py, test_tf_strategies.py),
and horovod_keras.json is run as the processing example that carries its estimator
(tests/processing/test_processing_local.py), so each of those trainers trains once per session.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dtrain.cli import main
from dtrain.commands.data_cmd import make_cifar10_sample
from dtrain.local.config import repo_root, training_code_dir
from tests.made_once import made_once

REPO = repo_root()
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"
EXAMPLES = REPO / "examples"
# Small enough for seconds per run on 2 cores, big enough for a few steps.
TINY_HPS: Mapping[str, int | float] = {"epochs": 1, "batch_size": 16, "width": 4, "max_steps": 3}


@dataclass(frozen=True)
class Plan:
    """How the session runs an example: on `hosts` simulated hosts, with `hyperparameters` set
    over the spec's."""

    hosts: int = 1
    hyperparameters: Mapping[str, int | float] = field(default_factory=lambda: TINY_HPS)


# One host unless a file that shares the run asserts on more: the examples' own test and the
# serving test only need a finished job, and every distributed example also runs on two hosts
# through the platform (tests/emulator/test_distributed_examples_on_platform.py). (An MPI or
# smdistributed job's master sleeps 30 s after mpirun whatever its host count,
# sagemaker_training/mpi.py and smdataparallel.py: wall time, no CPU.)
DEFAULT_PLAN = Plan()
# test_horovod_torch.py: rank 0's metric line every epoch, and a SIGTERM at step 4's checkpoint
# with 76 steps of margin (its SIGTERM run repeats this plan and must end with these weights).
HOROVOD_TORCH = Plan(
    hosts=2,
    hyperparameters={
        "epochs": 10,
        "max_steps": 80,
        "batch_size": 16,
        "width": 4,
        "lr": 0.05,
        "checkpoint_every_steps": 4,
    },
)
# test_tf_strategies.py: three epochs of 4 steps, checkpoints every 3, on both workers.
TF_STRATEGIES = Plan(
    hosts=2,
    hyperparameters={
        "epochs": 3,
        "batch_size": 16,
        "width": 8,
        "lr": 0.02,
        "checkpoint_every_steps": 3,
        "max_steps": 4,
    },
)
PLANS: Mapping[str, Plan] = {
    "horovod_torch": HOROVOD_TORCH,
    "tf_multi_worker_mirrored": TF_STRATEGIES,
    "tf_parameter_server": TF_STRATEGIES,
}
# horovod_keras.json's estimator is the processing example's, word for word
# (test_the_processing_example_trains_the_horovod_keras_estimator checks it): its run is that
# example's, processing step and all, as its platform run already is.
HOROVOD_KERAS_PROCESSING = EXAMPLES / "processing" / "horovod_keras_with_preprocessing.json"
RUN_AS = {EXAMPLES / "horovod_keras.json": HOROVOD_KERAS_PROCESSING}


@dataclass(frozen=True)
class ExampleRun:
    code: int
    stdout: str
    stderr: str
    workdir: Path
    # Processes still running with their SAGEMAKER_BASE_DIR in the job's folder as the run ended.
    leftover_pids: list[int]

    @property
    def job_dir(self) -> Path:
        """The job's folder (exactly one job per run)."""
        (job_dir,) = (self.workdir / "jobs").iterdir()
        return job_dir

    @property
    def archive(self) -> Path:
        """The job's model.tar.gz."""
        return self.job_dir / "output" / "model.tar.gz"

    @functools.cached_property
    def logs(self) -> dict[str, str]:
        """Each host's log (algo-1, algo-2, ...), as the job wrote it."""
        return {p.stem: p.read_text() for p in (self.job_dir / "logs").glob("algo-*.log")}


class ExampleRuns:
    """`run(example_path)`: the example's `dtrain local` run as PLANS says (DEFAULT_PLAN: one host,
    TINY_HPS), made once under `root` (a directory every xdist worker of the session sees). Each
    channel gets the CIFAR-10 sample (128 train, 32 test images); a TensorFlow example on the
    horovod image gets it as TFRecords, and a processing step's inputs get the sample as it is."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, example: Path) -> ExampleRun:
        asked, example = example, RUN_AS.get(example, example)
        spec = json.loads(example.read_text())
        if example != asked:
            own = json.loads(asked.read_text())["estimator"]
            assert spec["estimator"] == own, f"{example.name} no longer has {asked.name}'s estimator"
        key = example.stem
        folder = self.root / key
        with self._locked(key):
            record = folder / "run.json"
            if not record.is_file():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                code, out, err = self._train(spec, example, folder / "work", PLANS.get(key, DEFAULT_PLAN))
                leftover = pids_under(folder / "work" / "jobs")
                staged = folder / "run.json.part"
                staged.write_text(
                    json.dumps({"code": code, "stdout": out, "stderr": err, "leftover_pids": leftover})
                )
                staged.rename(record)  # only a finished run is ever read
            saved = json.loads(record.read_text())
        return ExampleRun(
            saved["code"], saved["stdout"], saved["stderr"], folder / "work", saved["leftover_pids"]
        )

    def _train(
        self, spec: dict[str, object], example: Path, workdir: Path, plan: Plan
    ) -> tuple[int, str, str]:
        data = self.cifar()
        estimator = spec["estimator"]
        assert isinstance(estimator, dict)
        processing = spec.get("processing")
        if processing:  # the step makes the training channels from the raw sample
            assert isinstance(processing, dict)
            channels = [i["input_name"] for i in processing["run"]["inputs"]]
        else:
            channels = list(spec["inputs"])  # type: ignore[call-overload]
            if estimator.get("image_uri") == "horovod" and spec["framework"] == "tensorflow":
                data = self.tfrecords()  # the Keras trainers read TFRecords
        args = ["local", str(example), "--workdir", str(workdir), "--no-live", "--hosts", str(plan.hosts)]
        for channel in channels:
            args += ["--data", f"{channel}={data}"]
        for name, value in plan.hyperparameters.items():
            args += ["--set", f"{name}={value}"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        return code, out.getvalue(), err.getvalue()

    def cifar(self) -> Path:
        return made_once(
            self.root, "cifar10-sample", lambda folder: make_cifar10_sample(folder, train=128, test=32)
        )

    def tfrecords(self) -> Path:
        """TFRecords of the sample, written by the data script under TensorFlow (in .venv-hvd)."""
        assert HVD_PYTHON.exists(), f"{HVD_PYTHON} missing: run make setup (scripts/setup_horovod.sh)"
        source = self.cifar()
        script = training_code_dir() / "data" / "prepare_cifar10.py"

        def convert(folder: Path) -> None:
            subprocess.run([str(HVD_PYTHON), str(script), "tfrecord", str(source), str(folder)], check=True)

        return made_once(self.root, "cifar10-tfrecords", convert)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield


def pids_under(root: Path) -> list[int]:
    """Processes whose environment points under `root` (SAGEMAKER_BASE_DIR: a job's host folder)."""
    needle = f"SAGEMAKER_BASE_DIR={root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if any(v.startswith(needle) for v in (entry / "environ").read_bytes().split(b"\0")):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
