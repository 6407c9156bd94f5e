"""The TensorFlow strategies really train across two simulated hosts through `dtrain local`.

train_tf_keras.py (the horovod image's TF trainer) under the TF_CONFIG and ps servers local mode
the horovod image's chain sets up: SageMaker's TensorFlow toolkit itself, per host in its
own network namespace (dtrain/local/host_chains.py):
- multi_worker_mirrored_strategy: both workers apply the same steps with the same all-reduced
  loss, end with bit-identical weights, learn, and the chief's SavedModel loads;
- parameter_server: the variables live on the two ps servers, the worker runs the chief's steps
  (and logs them), the chief's SavedModel beats chance, and nothing is left running.
TensorFlow lives in .venv-hvd (make setup): missing, these fail rather than skip.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.local.config import repo_root
from tests.example_runs import TF_STRATEGIES, ExampleRun, ExampleRuns

pytestmark = pytest.mark.slow

REPO = repo_root()
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"
METRIC = re.compile(r"^epoch=(\d+) step=(\d+) train_loss=([0-9.]+) val_acc=([0-9.]+)", re.M)
# Both examples' runs are the session's (tests/example_runs.py): the examples' own test and the
# serving test use them too, so each strategy trains once per session.
EPOCHS = int(TF_STRATEGIES.hyperparameters["epochs"])
assert TF_STRATEGIES.hosts == 2


# Scores SavedModels on the test records, one request a line ({"model": DIR, "records": DIR}),
# in ONE TensorFlow process for the module: each start of TensorFlow costs ~4-7 CPU-s, a scoring
# milliseconds, and both strategies' tests score their chief's SavedModel.
SCORER = """
import json, sys, traceback
import numpy as np, tensorflow as tf
mean = np.array([0.4914, 0.4822, 0.4465], np.float32) * 255
std = np.array([0.2470, 0.2435, 0.2616], np.float32) * 255
def accuracy(model, records):
    serve = tf.saved_model.load(model).signatures["serving_default"]
    correct = total = 0
    for raw in tf.data.TFRecordDataset(records + "/test.tfrecords"):
        ex = tf.train.Example.FromString(raw.numpy())
        image = np.frombuffer(ex.features.feature["image"].bytes_list.value[0], np.uint8)
        pixels = (image.reshape(1, 32, 32, 3).astype(np.float32) - mean) / std
        logits = list(serve(tf.constant(pixels)).values())[0]
        correct += int(np.argmax(logits) == ex.features.feature["label"].int64_list.value[0])
        total += 1
    return correct / total
for line in sys.stdin:
    try:
        print(json.dumps({"accuracy": accuracy(**json.loads(line))}), flush=True)
    except Exception:
        print(json.dumps({"error": traceback.format_exc()}), flush=True)
"""


class SavedModelScorer:
    """`accuracy(model_dir, tfrecords)`: the SavedModel loaded in a TensorFlow process of its own
    (.venv-hvd, started at the first call and kept for the next) and scored on the test records."""

    def __init__(self, stderr: Path) -> None:
        self.stderr = stderr
        self.process: subprocess.Popen[str] | None = None

    def accuracy(self, model_dir: Path, tfrecords: Path) -> float:
        if self.process is None:
            with self.stderr.open("w") as stderr:
                self.process = subprocess.Popen(
                    [str(HVD_PYTHON), "-c", SCORER],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"model": str(model_dir), "records": str(tfrecords)}) + "\n")
        self.process.stdin.flush()
        # The scorer answers every request with one line: nothing else is ever left buffered.
        ready, _, _ = select.select([self.process.stdout], [], [], 300)
        assert ready, "no score within 300 s"
        line = self.process.stdout.readline()
        assert line, self.stderr.read_text()[-3000:]  # the scorer died
        answer = json.loads(line)
        assert "error" not in answer, answer["error"]
        return float(answer["accuracy"])

    def close(self) -> None:
        if self.process is not None:
            try:
                self.process.communicate(timeout=60)  # closes its input: the scorer's loop ends
            finally:
                if self.process.poll() is None:
                    self.process.kill()
                    self.process.wait()


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SavedModelScorer]:
    scorer = SavedModelScorer(tmp_path_factory.mktemp("scorer") / "stderr.log")
    try:
        yield scorer
    finally:
        scorer.close()


def _run_example(name: str, example_runs: ExampleRuns) -> ExampleRun:
    assert HVD_PYTHON.exists(), f"{HVD_PYTHON} missing: run make setup (scripts/setup_horovod.sh)"
    run = example_runs.run(REPO / "examples" / name)
    assert run.code == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def mwms(example_runs: ExampleRuns) -> ExampleRun:
    return _run_example("tf_multi_worker_mirrored.json", example_runs)


@pytest.fixture(scope="module")
def ps(example_runs: ExampleRuns) -> ExampleRun:
    return _run_example("tf_parameter_server.json", example_runs)


# ---------------------------------------------------------------- MultiWorkerMirrored


def test_mwms_workers_step_together_on_the_same_all_reduced_loss(mwms: ExampleRun) -> None:
    line = re.compile(r"^worker_epoch task=worker:(\d) epoch=(\d+) iterations=(\d+) loss=(\S+)$", re.M)
    per_worker = {host: line.findall(mwms.logs[host]) for host in ("algo-1", "algo-2")}
    assert [t for t, *_ in per_worker["algo-1"]] == ["0"] * EPOCHS
    assert [t for t, *_ in per_worker["algo-2"]] == ["1"] * EPOCHS
    steps_and_losses = {host: [(e, i, loss) for _, e, i, loss in found] for host, found in per_worker.items()}
    # Same optimizer step count after every epoch and the loss equal to the last digit.
    assert steps_and_losses["algo-1"] == steps_and_losses["algo-2"]
    assert [int(i) for _, i, _ in steps_and_losses["algo-1"]] == [4, 8, 12]


def test_mwms_replicas_end_identical_and_learn(mwms: ExampleRun) -> None:
    digests = {
        h: re.findall(r"^worker_weights task=worker:\d sha256=(\w+)$", t, re.M) for h, t in mwms.logs.items()
    }
    assert len(digests["algo-1"]) == 1 and digests["algo-1"] == digests["algo-2"]
    metrics = [(int(e), int(s), float(loss)) for e, s, loss, _ in METRIC.findall(mwms.logs["algo-1"])]
    assert [(e, s) for e, s, _ in metrics] == [(1, 4), (2, 8), (3, 12)]  # the chief's lines only
    assert METRIC.findall(mwms.logs["algo-2"]) == []
    assert metrics[-1][2] < metrics[0][2], metrics


def test_mwms_chief_keeps_the_checkpoints_and_its_saved_model_loads(
    mwms: ExampleRun, tfrecord_dir: Path, scorer: SavedModelScorer
) -> None:
    store = mwms.job_dir / "checkpoints"
    # Every worker saved (collectives), only the chief's copies are in the store; 2 kept.
    assert sorted(p.name for p in store.glob("ckpt-*.index")) == ["ckpt-12.index", "ckpt-9.index"]
    model = mwms.job_dir / "algo-1" / "model" / "1"
    assert (model / "saved_model.pb").is_file()
    assert not (mwms.job_dir / "algo-2" / "model" / "1").exists()
    assert 0.0 <= scorer.accuracy(model, tfrecord_dir) <= 1.0


# ---------------------------------------------------------------- ParameterServer


def test_ps_variables_live_on_both_parameter_servers(ps: ExampleRun) -> None:
    found = re.search(r"^ps_variables on_ps=(\w+) devices=(\S+)$", ps.logs["algo-1"], re.M)
    assert found, ps.logs["algo-1"][-3000:]
    assert found.group(1) == "True"
    assert found.group(2).split(",") == [
        "/job:ps/replica:0/task:0/device:CPU:0",
        "/job:ps/replica:0/task:1/device:CPU:0",
    ]


def test_ps_worker_runs_the_chiefs_steps_and_leaves_when_the_chief_is_done(ps: ExampleRun) -> None:
    worker_steps = re.findall(r"^worker_step iteration= (\d+)$", ps.logs["algo-2"], re.M)
    chief_total = re.search(r"^chief done: steps=(\d+) dispatched to 1 worker", ps.logs["algo-1"], re.M)
    assert chief_total and int(chief_total.group(1)) == EPOCHS * 4
    # The one worker (2 hosts: master + 1 worker) ran every step; the chief ran none itself.
    assert len(worker_steps) == EPOCHS * 4
    assert "worker_step" not in ps.logs["algo-1"]
    assert "worker 0 done: the chief has finished" in ps.logs["algo-2"]
    # The TF toolkit's own parameter server on each host; algo-2's stops once the master is down.
    assert all("Launching parameter server process" in ps.logs[h] for h in ("algo-1", "algo-2"))
    assert "master algo-1 is down, stopping parameter server" in ps.logs["algo-2"]
    # The metric line comes from the chief alone.
    assert [int(s) for _, s, _, _ in METRIC.findall(ps.logs["algo-1"])] == [4, 8, 12]


def test_ps_chief_saved_model_beats_chance(
    ps: ExampleRun, tfrecord_dir: Path, scorer: SavedModelScorer
) -> None:
    model = ps.job_dir / "algo-1" / "model" / "1"
    assert (model / "saved_model.pb").is_file()
    assert scorer.accuracy(model, tfrecord_dir) > 0.1 + 0.1  # chance is 0.1 (10 classes)


def test_ps_leaves_no_worker_or_ps_process(ps: ExampleRun) -> None:
    assert ps.leftover_pids == []
