"""Every example that names a distribution trains across two simulated hosts through the
emulated platform (issue 14): the whole app deployed as `make demo` deploys it, IAM enforced,
the example's spec as the execution input, the state machine's Submit creating the job, local
mode running it on 2 hosts, the callback ending the execution. `ddp_torchrun` is the demo's
own spec (the demo's run: tests/packaging/test_installed_wheel.py); smdistributed needs a
library no image ships.
`horovod_keras` trains on two hosts in the processing test below: its processing example has
the same estimator (test_the_processing_example_trains_the_horovod_keras_estimator), so one
execution covers both (each a 2-host Horovod run of 45-75 s on 2 cores)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.demo.emulated import data_bucket
from dtrain.emulator import Emulator
from dtrain.emulator.local_backend import local_sagemaker_backend
from dtrain.local import LocalConfig
from dtrain.local.config import repo_root
from tests.example_runs import ExampleRuns

REPO = repo_root()
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"
EXAMPLES = [
    "ddp_pytorchddp.json",
    "horovod_torch.json",
    "tf_multi_worker_mirrored.json",
    "tf_parameter_server.json",
]
TINY = {"epochs": 1, "batch_size": 16, "width": 4, "max_steps": 3}
HVD_KERAS_PROCESSING = REPO / "examples" / "processing" / "horovod_keras_with_preprocessing.json"


@pytest.fixture(scope="module")
def platform_with_data(
    tmp_path_factory: pytest.TempPathFactory, emulator_app_assembly: Path, example_runs: ExampleRuns
) -> Iterator[Emulator]:
    assert HVD_PYTHON.exists(), f"{HVD_PYTHON} missing: run make setup (scripts/setup_horovod.sh)"
    work = tmp_path_factory.mktemp("distributed-on-platform")
    # The session's CIFAR-10 sample (128 train, 32 test) and its TFRecords (tests/example_runs.py):
    # writing TFRecords starts TensorFlow (~4 CPU-s), once per session instead of once per file.
    batches, records = example_runs.cifar(), example_runs.tfrecords()
    backend = local_sagemaker_backend(work / "jobs", hosts=2)
    with Emulator(emulator_app_assembly, sagemaker=backend, announce=False) as emu:
        settings = json.loads(emu.output("PlatformSettings"))
        backend.config = LocalConfig.load().with_platform_images(dict(settings.get("image_uris", {})))
        bucket = data_bucket(settings)
        s3 = emu.client("s3")
        # Both formats side by side under each channel's prefix: the PyTorch trainers read the
        # python batches, the Keras ones the TFRecords, each by its own file names.
        for channel in ("train", "test"):
            for folder in (batches, records):
                for f in sorted(p for p in folder.iterdir() if p.is_file()):
                    s3.upload_file(str(f), bucket, f"cifar10/{channel}/{f.name}")
        yield emu


@pytest.mark.slow
@pytest.mark.horovod
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.removesuffix(".json") for e in EXAMPLES])
def test_distributed_example_trains_on_two_hosts_through_the_platform(
    platform_with_data: Emulator, example: str
) -> None:
    emu = platform_with_data
    spec: dict[str, Any] = json.loads((REPO / "examples" / example).read_text())
    spec["estimator"]["hyperparameters"].update(TINY)
    spec["estimator"]["instance_count"] = 2

    arn = emu.start_execution(spec)
    desc = emu.wait_execution(arn, timeout=600)

    _assert_trained_on_two_hosts(emu, desc)


def _assert_trained_on_two_hosts(emu: Emulator, desc: dict[str, Any]) -> None:
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), str(desc.get("cause"))[-2000:])
    output = json.loads(desc["output"])
    assert "train:loss" in output["final_metrics"], output
    assert str(output["model_artifact"]).endswith("/output/model.tar.gz")
    # Both simulated hosts took part: each got its own container layout for this job.
    hosts = {
        p.parent.parent.parent.name
        for p in Path(emu.sagemaker.workdir).glob(
            f"**/{output['job_name']}/algo-*/input/config/resourceconfig.json"
        )
    }
    assert hosts == {"algo-1", "algo-2"}


def test_the_processing_example_trains_the_horovod_keras_estimator() -> None:
    """The processing test's execution stands for horovod_keras.json on two hosts: it holds as
    long as the two examples' estimators are the same."""
    keras = json.loads((REPO / "examples" / "horovod_keras.json").read_text())["estimator"]
    processing = json.loads(HVD_KERAS_PROCESSING.read_text())["estimator"]
    assert processing == keras
    assert processing["instance_count"] == 2


@pytest.mark.slow
@pytest.mark.horovod
def test_horovod_keras_example_makes_its_tfrecords_in_the_platforms_processing_step(
    platform_with_data: Emulator,
) -> None:
    """Issue 17: the processing step runs preprocess_cifar10.py as the execution role (raw batches
    from the data bucket, the script where `dtrain submit` uploads it, TFRecords out to the job's
    prefix), then the Horovod/Keras trainer reads those outputs: the execution SUCCEEDS with IAM
    enforced, so both the Lambdas' and the execution role's permissions are right. The training
    is horovod_keras.json's estimator on two hosts, so this is also that example's platform run
    (the parametrized test above leaves it out). Slow (~75 s on 2 cores): TensorFlow starts in the
    processing job and in each rank, and the toolkit sleeps 30 s after mpirun (sagemaker_training
    mpi.py)."""
    from dtrain.remote.source_upload import (
        processing_code_key,
        read_processing_script,
        upload_processing_script,
    )

    emu = platform_with_data
    assert emu.enforce
    example = HVD_KERAS_PROCESSING
    spec: dict[str, Any] = json.loads(example.read_text())
    spec["estimator"]["hyperparameters"].update(TINY)
    settings = json.loads(emu.output("PlatformSettings"))
    spec["processing"]["run"]["inputs"][0]["source"] = f"s3://{data_bucket(settings)}/cifar10/train/"
    # What `dtrain submit` does with the local script: upload it, name its S3 URI in the spec.
    script = read_processing_script(spec, example)
    assert script is not None
    artifacts = settings["output_s3_uri"].removeprefix("s3://").split("/", 1)[0]
    key = processing_code_key("hvd-keras-processing", script.path)
    spec["processing"]["run"]["code"] = upload_processing_script(emu.client("s3"), artifacts, key, script)

    arn = emu.start_execution(spec, name="hvd-keras-processing")
    desc = emu.wait_execution(arn, timeout=600)

    _assert_trained_on_two_hosts(emu, desc)
    rows = {r.kind: r for r in emu.ledger().find_by_execution(arn)}
    processing = emu.client("sagemaker").describe_processing_job(
        ProcessingJobName=rows["processing"].job_name
    )
    assert processing["ProcessingJobStatus"] == "Completed"
    train_uri = next(
        o["S3Output"]["S3Uri"]
        for o in processing["ProcessingOutputConfig"]["Outputs"]
        if o["OutputName"] == "train"
    )
    bucket, prefix = train_uri.removeprefix("s3://").split("/", 1)
    written = [o["Key"] for o in emu.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert written == [f"{prefix}/train.tfrecords"]
    # Its log lines reached SageMaker's processing log group, written as the execution role.
    events = emu.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/ProcessingJobs",
        logStreamName=f"{processing['ProcessingJobName']}/algo-1",
    )["events"]
    assert any("preprocess_cifar10" in e["message"] for e in events)
    # The training job read exactly that output.
    (train_job,) = [r.job_name for r in emu.ledger().find_by_execution(arn) if r.kind == "training"]
    channels = emu.client("sagemaker").describe_training_job(TrainingJobName=train_job)["InputDataConfig"]
    assert train_uri in [c["DataSource"]["S3DataSource"]["S3Uri"] for c in channels]
