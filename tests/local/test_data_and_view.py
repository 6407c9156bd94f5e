"""`dtrain data cifar10-sample` and the live progress view."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from rich.console import Console

from dtrain.cli import main
from dtrain.local import LocalTrainingJob
from dtrain.local.progress import render_live


@pytest.mark.slow
def test_cifar10_sample_writes_the_real_python_batch_format(tmp_path: Path) -> None:
    target = tmp_path / "sample"
    assert main(["data", "cifar10-sample", str(target), "--train", "50", "--test", "10"]) == 0

    names = sorted(p.name for p in target.iterdir())
    assert names == ["batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    with open(target / "test_batch", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    assert batch[b"data"].shape == (10, 3072)
    assert len(batch[b"labels"]) == 10


def test_cifar10_sample_refuses_an_empty_training_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "cifar10-sample", str(tmp_path / "x"), "--train", "0"]) == 2
    assert "--train must be at least 1" in capsys.readouterr().err


def test_live_view_shows_hosts_processes_progress_and_latest_metrics(tmp_path: Path) -> None:
    request = {
        "TrainingJobName": "view-job",
        "AlgorithmSpecification": {
            "TrainingImage": "ddp",
            "MetricDefinitions": [{"Name": "train:loss", "Regex": "train_loss=([0-9.]+)"}],
        },
        "HyperParameters": {},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2},
    }
    job = LocalTrainingJob(request, workdir=tmp_path)
    job.host_progress["algo-1"].processes = 1
    job.host_progress["algo-1"].running = 1
    job._on_line("algo-1", "epoch=3 step=120 train_loss=0.4123")
    job._on_line("algo-2", "warming up")

    console = Console(record=True, width=160)
    console.print(render_live(job, started=0.0))
    text = console.export_text()

    assert "view-job" in text and "InProgress / Starting" in text
    row1 = next(line for line in text.splitlines() if line.startswith("algo-1"))
    assert row1.split()[:4] == ["algo-1", "1/1", "3", "120"]
    assert "warming up" in next(line for line in text.splitlines() if line.startswith("algo-2"))
    assert "train:loss" in text and "0.4123" in text
    described = job.describe()
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("InProgress", "Starting")
    assert "ModelArtifacts" not in described and "TrainingEndTime" not in described
    assert described["FinalMetricDataList"][0]["Value"] == 0.4123
