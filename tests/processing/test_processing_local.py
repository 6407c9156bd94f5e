"""Processing jobs on this machine: SageMaker Processing's layout, inputs in, outputs out, then
training on the outputs (`dtrain local` with a spec that has both)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dtrain.cli import main
from dtrain.commands.data_cmd import make_cifar10_sample
from dtrain.local.config import repo_root
from dtrain.local.processing_job import run_processing_locally, stand_in_path
from tests.example_runs import ExampleRuns

REPO = repo_root()
EXAMPLE = REPO / "examples" / "processing" / "ddp_with_preprocessing.json"
SCRIPT = REPO / "training_code" / "processing" / "preprocess_cifar10.py"
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"

# A processing command that reports what it sees, and writes one output file per host.
PROBE = """
import json, os, sys
from pathlib import Path
base = Path(os.environ["SAGEMAKER_BASE_DIR"])
config = json.loads((base / "config" / "resourceconfig.json").read_text())
job = json.loads((base / "config" / "processingjobconfig.json").read_text())
raw = sorted(p.name for p in Path(sys.argv[2]).iterdir())
out = Path(sys.argv[4])
(out / f"{config['current_host']}.json").write_text(json.dumps(
    {"hosts": config["hosts"], "job": job["ProcessingJobName"], "raw": raw, "mode": os.environ["MODE"],
     "argv": sys.argv[1:]}))
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def _request(tmp_path: Path, *, hosts: int = 2, env: dict[str, str] | None = None) -> dict[str, Any]:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "probe.py").write_text(PROBE)
    return {
        "ProcessingJobName": "probe-1",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": hosts, "VolumeSizeInGB": 30}
        },
        "AppSpecification": {
            "ImageUri": "img",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/probe.py"],
            "ContainerArguments": [
                "--raw",
                "/opt/ml/processing/input/raw",
                "--out",
                "/opt/ml/processing/output/o",
            ],
        },
        "RoleArn": "arn:aws:iam::000000000000:role/r",
        "ProcessingInputs": [
            {
                "InputName": "raw",
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": "s3://bucket/raw",
                    "LocalPath": "/opt/ml/processing/input/raw",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "code",
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": "s3://bucket/probe-1/input/code/probe.py",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "o",
                    "AppManaged": False,
                    "S3Output": {
                        "S3Uri": "s3://bucket/out/o",
                        "LocalPath": "/opt/ml/processing/output/o",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "Environment": {"MODE": "probe", **(env or {})},
    }


def test_layout_inputs_and_outputs_follow_sagemaker_processing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    raw = stand_in_path(work / "s3", "s3://bucket/raw")
    raw.mkdir(parents=True)
    (raw / "a.bin").write_bytes(b"x")
    request = _request(tmp_path)
    result = run_processing_locally(
        request, workdir=work, local_paths={"code": tmp_path / "code" / "probe.py"}, python=sys.executable
    )
    assert result.status == "Completed", result.log.read_text()
    assert result.outputs == {"o": work / "s3" / "bucket" / "out" / "o"}
    seen = {p.name: json.loads(p.read_text()) for p in result.outputs["o"].iterdir()}
    assert sorted(seen) == ["algo-1.json", "algo-2.json"]  # every host's output, one prefix
    first = seen["algo-1.json"]
    assert first["hosts"] == ["algo-1", "algo-2"] and first["job"] == "probe-1"
    assert first["raw"] == ["a.bin"] and first["mode"] == "probe"
    # /opt/ml paths in the arguments are the host's own tree.
    host = work / "processing" / "probe-1" / "algo-1"
    assert first["argv"] == ["--raw", f"{host}/processing/input/raw", "--out", f"{host}/processing/output/o"]
    assert (host / "processing" / "input" / "code" / "probe.py").is_file()


def test_a_failing_command_fails_the_job_and_uploads_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    raw = stand_in_path(work / "s3", "s3://bucket/raw")
    raw.mkdir(parents=True)
    result = run_processing_locally(
        _request(tmp_path, hosts=1, env={"EXIT": "3"}),
        workdir=work,
        local_paths={"code": tmp_path / "code" / "probe.py"},
    )
    assert result.status == "Failed" and result.exit_code == 3
    assert "exited 3" in (result.failure_reason or "")
    assert result.outputs == {} and not (work / "s3" / "bucket" / "out").exists()


def test_preprocess_cifar10_writes_npz_and_tfrecords_the_trainers_read(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    make_cifar10_sample(raw, train=40, test=10)
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--input",
            str(raw),
            "--train-output",
            str(out / "train"),
            "--test-output",
            str(out / "test"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    sys.path.insert(0, str(REPO / "training_code"))
    try:
        from common.cifar_format import load_split, read_python_batches
    finally:
        sys.path.remove(str(REPO / "training_code"))
    for split, count in (("train", 40), ("test", 10)):
        got = load_split(out / split, split)
        want = read_python_batches(raw, split)
        assert got is not None and want is not None and len(got) == count
        assert np.array_equal(got.images, want.images) and np.array_equal(got.labels, want.labels)
        # Per record: 3072 image bytes + 37 of Example encoding (keys, label) + 16 of framing.
        size = (out / split / f"{split}.tfrecords").stat().st_size
        assert size == count * (3072 + 37 + 16)


@pytest.mark.horovod
def test_the_pure_python_tfrecords_parse_in_tensorflow(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    make_cifar10_sample(raw, train=20, test=5)
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--input",
            str(raw),
            "--train-output",
            str(tmp_path / "train"),
            "--test-output",
            str(tmp_path / "test"),
            "--formats",
            "npz,tfrecord",
        ],
        check=True,
        capture_output=True,
    )
    check = (
        "import sys, numpy as np, tensorflow as tf\n"
        "f = {'image': tf.io.FixedLenFeature([], tf.string), 'label': tf.io.FixedLenFeature([], tf.int64)}\n"
        "z = np.load(sys.argv[2])\n"
        "rows = [tf.io.parse_single_example(r, f) for r in tf.data.TFRecordDataset(sys.argv[1])]\n"
        "assert len(rows) == len(z['y'])\n"
        "for i, e in enumerate(rows):\n"
        "    assert np.frombuffer(e['image'].numpy(), np.uint8).tobytes() == z['x'][i].tobytes()\n"
        "    assert int(e['label']) == int(z['y'][i])\n"
        "print('ok', len(rows))\n"
    )
    assert HVD_PYTHON.exists(), "the Horovod virtualenv is part of make setup"
    proc = subprocess.run(
        [
            str(HVD_PYTHON),
            "-c",
            check,
            str(tmp_path / "train" / "train.tfrecords"),
            str(tmp_path / "train" / "cifar10_train.npz"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "ok 20" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.horovod
def test_the_horovod_keras_example_trains_on_tfrecords_its_processing_step_wrote(
    example_runs: ExampleRuns,
) -> None:
    """The example's one-host `dtrain local` run on the raw CIFAR-10 sample is the session's
    (tests/example_runs.py): tests/local/test_examples_local.py and the serving test use it as
    horovod_keras.json's run (the same estimator), so the trainer trains once for the three."""
    assert HVD_PYTHON.exists(), "the Horovod virtualenv is part of make setup"
    example = REPO / "examples" / "processing" / "horovod_keras_with_preprocessing.json"

    run = example_runs.run(example)

    assert run.code == 0, run.stderr[-3000:]
    assert {p.name for p in (run.workdir / "s3").rglob("*.tfrecords")} == {
        "train.tfrecords",
        "test.tfrecords",
    }
    assert run.archive.is_file()


@pytest.mark.slow
def test_dtrain_local_runs_processing_then_training_on_its_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "raw"
    make_cifar10_sample(raw, train=64, test=16)
    work = tmp_path / "work"
    args = [
        "local",
        str(EXAMPLE),
        "--workdir",
        str(work),
        "--no-live",
        "--hosts",
        "1",
        "--data",
        f"raw={raw}",
    ]
    for hp in ("epochs=1", "batch_size=16", "width=4", "max_steps=3"):
        args += ["--set", hp]

    code = main(args)

    out = capsys.readouterr()
    assert code == 0, out.err[-3000:]
    prep = next((work / "processing").iterdir())
    assert (prep / "algo-1" / "config" / "processingjobconfig.json").is_file()
    produced = {p.name for p in (work / "s3").rglob("*.npz")}
    assert produced == {"cifar10_train.npz", "cifar10_test.npz"}
    job_dir = next((work / "jobs").iterdir())
    channel = job_dir / "algo-1" / "input" / "data" / "train"
    assert (channel / "cifar10_train.npz").is_file()  # the training channel is the processing output
    assert str(channel.resolve()).startswith(str(work / "s3"))
    assert (job_dir / "output" / "model.tar.gz").is_file()


# Writes a file to a Continuous output, then waits (at most 60 s) to see it in the S3 stand-in
# while still running: exit 0 when it arrived, 1 when it never did.
CONTINUOUS_PROBE = """
import os, sys, time
from pathlib import Path
out = Path(sys.argv[4])
(out / "partial.txt").write_text("step 1")
seen = Path(os.environ["STAND_IN"]) / "partial.txt"
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if seen.is_file():
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
"""


def test_a_continuous_output_reaches_s3_while_the_command_runs(tmp_path: Path) -> None:
    work = tmp_path / "work"
    stand_in_path(work / "s3", "s3://bucket/raw").mkdir(parents=True)
    request = _request(
        tmp_path, hosts=1, env={"STAND_IN": str(stand_in_path(work / "s3", "s3://bucket/out/o"))}
    )
    (tmp_path / "code" / "probe.py").write_text(CONTINUOUS_PROBE)
    request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3UploadMode"] = "Continuous"
    result = run_processing_locally(
        request, workdir=work, local_paths={"code": tmp_path / "code" / "probe.py"}
    )
    assert result.status == "Completed", result.log.read_text()
    assert (result.outputs["o"] / "partial.txt").read_text() == "step 1"
