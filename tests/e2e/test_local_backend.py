"""The whole chain with a real job: Submit creates it, local mode trains it (2 simulated hosts,
CPU DDP), SageMaker's event reaches JobEvents, the execution SUCCEEDS with the model in S3."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator.local_backend import LOG_GROUP, LocalRunnerBackend

REPO = Path(__file__).resolve().parents[2]
# The stand-in platform's packaged DDP image URI (dtrain/emulator/apps.py).
DDP_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dtrain-ddp:latest"


@pytest.fixture(scope="module")
def local_emulator(standin_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    from dtrain.local import LocalConfig

    root = tmp_path_factory.mktemp("local")
    data = root / "cifar"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "training_code/data/prepare_cifar10.py"),
            "synth",
            str(data),
            "--train",
            "256",
            "--test",
            "64",
        ],
        check=True,
        capture_output=True,
    )
    backend = LocalRunnerBackend(workdir=root / "jobs", config=LocalConfig(images={DDP_URI: "ddp"}))
    with Emulator(standin_assembly, sagemaker=backend, announce=False) as emu:
        s3 = emu.client("s3")
        s3.create_bucket(Bucket="emu-data")
        for f in data.iterdir():
            s3.upload_file(str(f), "emu-data", f"cifar10/{f.name}")
        yield emu


@pytest.mark.slow
def test_a_real_ddp_job_runs_end_to_end_through_the_emulator(
    local_emulator: Emulator, make_spec: Any
) -> None:
    spec = make_spec(hyperparameters={"epochs": 1, "batch_size": 32, "max_steps": 4, "width": 8}, max_run=600)
    spec["inputs"] = {"train": "s3://emu-data/cifar10/"}
    arn = local_emulator.start_execution(spec)
    desc = local_emulator.wait_execution(arn, timeout=400)
    assert desc["status"] == "SUCCEEDED", (
        desc.get("error"),
        desc.get("cause"),
        local_emulator.sagemaker.errors,
    )
    out = json.loads(desc["output"])
    assert {"train:loss", "validation:accuracy"} <= set(out["final_metrics"])
    assert "Training" in [t["status"] for t in out["secondary_status_transitions"]]
    bucket, key = out["model_artifact"].removeprefix("s3://").split("/", 1)
    body = local_emulator.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert tar.getnames(), "model.tar.gz is empty"
    # Rank 0's metric lines are in the job's CloudWatch stream, under SageMaker's names.
    events = local_emulator.client("logs").get_log_events(
        logGroupName=LOG_GROUP, logStreamName=f"{out['job_name']}/algo-1"
    )["events"]
    assert any("train_loss=" in e["message"] for e in events)


@pytest.mark.slow
def test_a_training_script_that_raises_fails_the_execution_with_its_text(
    local_emulator: Emulator, make_spec: Any, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text('raise RuntimeError("loss became NaN at step 3")\n')
    tarball = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(script, arcname="train.py")
    local_emulator.client("s3").upload_file(str(tarball), "emu-data", "src/sourcedir.tar.gz")
    spec = make_spec(entry_point="train.py", source_dir="s3://emu-data/src/sourcedir.tar.gz", max_run=600)
    spec["inputs"] = {"train": "s3://emu-data/cifar10/"}
    arn = local_emulator.start_execution(spec)
    desc = local_emulator.wait_execution(arn, timeout=300)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "SageMaker.TrainingJobFailed"
    # The cause is the job's FailureReason, passed through unchanged: what the image's toolkit
    # wrote to output/failure (its ExecuteUserScriptError, naming the script's own error first).
    (job,) = local_emulator.jobs_of(arn)
    reason = local_emulator.client("sagemaker").describe_training_job(TrainingJobName=job)["FailureReason"]
    assert desc["cause"] == reason
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage"), reason
    # The toolkit's ErrorMessage names the script's error before the traceback; how it lays out
    # the exception's type and text varies with what else the launcher wrote to stderr (torchrun's
    # own error lines come in between under load), so the two are looked for, not their layout.
    head = reason.split("Traceback")[0]
    assert "RuntimeError" in head and "loss became NaN at step 3" in head, reason
    # The traceback itself is in the job's log stream.
    events = local_emulator.client("logs").get_log_events(
        logGroupName=LOG_GROUP, logStreamName=f"{job}/algo-1"
    )
    assert any("loss became NaN at step 3" in e["message"] for e in events["events"])
