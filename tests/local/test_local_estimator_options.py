"""Local mode honours the estimator arguments that change behaviour on this machine.

Each test runs a one-host job of a tiny script through the ddp image's entry chain (the
SageMaker toolkit's `train` runs it) and checks what SageMaker would do with the request field
the argument lands in.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dtrain.local.job import LocalTrainingJob

SCRIPT = """
import os, pathlib
pathlib.Path(os.environ["SM_MODEL_DIR"], "weights.txt").write_text("w")
pathlib.Path(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt").write_text("r")
"""


def _request(**fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": "options-job",
        "AlgorithmSpecification": {"TrainingImage": "dtrain-local/ddp:latest"},
        "HyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"/opt/ml/code"',
        },
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "OutputDataConfig": {"S3OutputPath": "s3://out/jobs"},
    }
    for key, value in fields.items():
        request.setdefault(key, {}).update(value)
    return request


def _run(tmp_path: Path, request: dict[str, Any], script: str = SCRIPT) -> LocalTrainingJob:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "train.py").write_text(script)
    job = LocalTrainingJob(
        request,
        workdir=tmp_path / "work",
        code_dir=code,
    )
    result = job.start().wait(timeout=120)
    assert result.status == "Completed", (result.failure_reason, job.last_lines())
    return job


def test_compressed_output_by_default(tmp_path: Path) -> None:
    job = _run(tmp_path, _request())
    assert job.model_artifact is not None and job.model_artifact.name == "model.tar.gz"
    with tarfile.open(job.model_artifact, "r:gz") as tar:
        assert tar.getnames() == ["weights.txt"]


def test_disable_output_compression_leaves_the_files_untarred(tmp_path: Path) -> None:
    job = _run(tmp_path, _request(OutputDataConfig={"CompressionType": "NONE"}))
    model = job.model_artifact
    assert model is not None and model.is_dir()
    assert (model / "weights.txt").read_text() == "w"
    assert (model.parent / "output" / "report.txt").read_text() == "r"
    assert not list(model.parent.glob("*.tar.gz"))
    assert job.describe()["ModelArtifacts"]["S3ModelArtifacts"] == "s3://out/jobs/options-job/output/model/"


def test_container_entry_point_and_arguments_run_instead_of_the_toolkit_launch(tmp_path: Path) -> None:
    # The entry point script is never run; the container command writes the model itself, at
    # /opt/ml/model: without the toolkit nothing sets SM_MODEL_DIR, as on SageMaker.
    command = (
        "import os, pathlib, sys; "
        "assert 'SM_MODEL_DIR' not in os.environ; "
        "pathlib.Path('/opt/ml/model/args').write_text(' '.join(sys.argv[1:]))"
    )
    request = _request(
        AlgorithmSpecification={
            "ContainerEntrypoint": [sys.executable, "-c", command],
            "ContainerArguments": ["--epochs", "3"],
        }
    )
    job = _run(tmp_path, request, script="raise SystemExit('the toolkit launch ran')")
    assert job.distribution == "container_entry_point"
    with tarfile.open(job.model_artifact or "", "r:gz") as tar:
        member = tar.extractfile("args")
        assert member is not None and member.read() == b"--epochs 3"


def test_tensorboard_local_path_exists_and_its_files_land_in_the_job_output(tmp_path: Path) -> None:
    # The default LocalPath /opt/ml/output/tensorboard is SM_OUTPUT_DIR/tensorboard here.
    script = (
        "import os, pathlib\n"
        "tb = pathlib.Path(os.environ['SM_OUTPUT_DIR'], 'tensorboard')\n"
        "assert tb.is_dir(), 'LocalPath missing'\n"
        "(tb / 'events.out.tfevents.1').write_text('e')\n"
    )
    request = _request(TensorBoardOutputConfig={"S3OutputPath": "s3://out/tb"})
    job = _run(tmp_path, request, script=script)
    assert (job.job_dir / "output" / "tensorboard" / "algo-1" / "events.out.tfevents.1").read_text() == "e"


def test_the_emulator_uploads_uncompressed_model_files_under_output_model(tmp_path: Path) -> None:
    import boto3
    from moto import mock_aws

    from dtrain.emulator.local_backend import LocalRunnerBackend

    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.txt").write_text("w")
    (model / "sub" / "extra.txt").write_text("x")
    control = SimpleNamespace(
        request={"OutputDataConfig": {"S3OutputPath": "s3://out/jobs"}},
        name="options-job",
        backend=SimpleNamespace(region_name="us-east-1"),
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="out")
        LocalRunnerBackend(workdir=tmp_path)._upload_model(control, model)  # type: ignore[arg-type]
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="out")["Contents"])
    assert keys == [
        "jobs/options-job/output/model/sub/extra.txt",
        "jobs/options-job/output/model/weights.txt",
    ]
