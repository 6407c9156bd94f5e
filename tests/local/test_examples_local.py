"""Every example spec runs through `dtrain local` on tiny data (hyperparameters shrunk)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from dtrain.jobspec.spec import load_spec
from dtrain.local import LocalTrainingJob
from dtrain.local.config import repo_root
from dtrain.local.platform import local_platform_settings
from dtrain.requests.training_request import build_training_job_request
from tests.example_runs import ExampleRuns

REPO = repo_root()
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"
EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.json"))
# The torchrun example is exercised through the Python API below (what the emulator uses).
CLI_EXAMPLES = [p for p in EXAMPLES if p.name != "ddp_torchrun.json"]


def test_there_are_examples_to_run() -> None:
    names = {p.name for p in EXAMPLES}
    assert "ddp_torchrun.json" in names, "examples/ddp_torchrun.json is the demo's spec"
    assert len(EXAMPLES) >= 2


def _uses_horovod_image(example: Path) -> bool:
    return bool(json.loads(example.read_text())["estimator"].get("image_uri") == "horovod")


def _model_members(archive: Path) -> list[str]:
    with tarfile.open(archive, "r:gz") as tar:
        return tar.getnames()


@pytest.mark.slow
def test_ddp_torchrun_example_through_the_api_emulator_style(cifar_dir: Path, tmp_path: Path) -> None:
    spec = load_spec(REPO / "examples" / "ddp_torchrun.json")
    raw = json.loads(json.dumps(dict(spec.raw)))
    raw["estimator"]["hyperparameters"].update({"epochs": 1, "batch_size": 16, "width": 4, "max_steps": 3})
    from dtrain.jobspec.spec import parse_spec

    request = build_training_job_request(parse_spec(raw), local_platform_settings())
    seen: dict[str, list[str]] = {}
    job = LocalTrainingJob(
        request,
        workdir=tmp_path,
        channel_paths={"train": cifar_dir, "test": cifar_dir},
        log_sink=lambda host, line: seen.setdefault(host, []).append(line),
    )
    assert job.status == "InProgress"
    result = job.start().wait(timeout=300)

    assert result.status == "Completed", result.failure_reason
    assert [t["Status"] for t in result.secondary_status_transitions] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]  # fmt: skip
    assert all("EndTime" in t for t in result.secondary_status_transitions)
    assert result.distribution == "torch_distributed"
    # Rank 0 (on algo-1) prints the metric lines; the log sink names the host a line came from.
    assert any("train_loss=" in line for line in seen["algo-1"])
    assert set(seen) <= {"algo-1", "algo-2"}
    assert result.final_metrics["step"] == 3
    assert "train:loss" in result.final_metrics
    assert result.model_artifact is not None and _model_members(result.model_artifact)
    assert result.training_seconds >= 1 and result.billable_seconds == result.training_seconds
    assert (result.job_dir / "algo-2" / "input" / "config" / "resourceconfig.json").is_file()
    described = job.describe()
    assert described["TrainingJobStatus"] == "Completed" and described["SecondaryStatus"] == "Completed"
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job.job_name}/output/model.tar.gz"
    )
    final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert final == result.final_metrics


@pytest.mark.slow
@pytest.mark.parametrize("example", CLI_EXAMPLES, ids=[p.stem for p in CLI_EXAMPLES])
def test_example_runs_through_dtrain_local(example: Path, example_runs: ExampleRuns) -> None:
    """A real `dtrain local` run per example (20-65 s each on 2 cores for the Horovod and
    TensorFlow ones). The run is the session's (tests/example_runs.py): the first test that
    needs it makes it, so tests/serving/test_every_trainer_served.py serves this same run's
    archive instead of training the trainer again, and the trainers' own files assert on it
    (horovod_torch and the TF strategies on two hosts; horovod_keras's estimator through its
    processing example, tests/processing/test_processing_local.py)."""
    if _uses_horovod_image(example):
        assert HVD_PYTHON.exists(), "the Horovod virtualenv is part of make setup"

    run = example_runs.run(example)

    assert run.code == 0, run.stderr[-3000:]
    model = run.archive
    assert model.is_file() and _model_members(model)
    assert "train:loss" in run.stdout
