"""The CLI against the embedded platform: the real templates, state machine and Lambdas in moto.

Where the other CLI tests pin the contract with hand-made resources, these run the commands
against what `cdk synth` produces, deployed by the emulator: the Submit Lambda really creates
the job, the abort path really stops it, the ledger rows are the orchestration's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The synth runs the CDK app through jsii (a node process): an external tool.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emulator(aws_env: None, standin_assembly: Path) -> Iterator[Any]:
    from dtrain.emulator.fixtures import standin_emulator

    with standin_emulator(standin_assembly) as emu:
        yield emu


def write_spec(tmp_path: Any, job_name: str) -> str:
    import json

    spec = {
        "framework": "pytorch",
        "job_name": job_name,
        "estimator": {
            "entry_point": "train_ddp.py",
            "image_uri": "ddp",
            "instance_type": "ml.g5.12xlarge",
            "instance_count": 2,
            "distribution": {"torch_distributed": {"enabled": True}},
            "hyperparameters": {"epochs": 1},
            "max_run": 3600,
        },
        "inputs": {"train": "s3://data-bucket/cifar10/train"},
    }
    path = tmp_path / f"{job_name}.json"
    path.write_text(json.dumps(spec))
    return str(path)


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def test_submit_twice_status_list_and_stop_on_the_emulated_platform(emulator, cli, tmp_path):
    spec = write_spec(tmp_path, "cli-emulated-1")
    first = cli.json("submit", spec)
    assert first["already_submitted"] is False
    (job,) = emulator.jobs_of(first["execution_arn"])  # created by the real Submit Lambda

    second = cli.json("submit", spec)
    assert second["already_submitted"] is True and second["jobs"] == [job]
    assert len([n for n in emulator.sagemaker.created_order if n == job]) == 1

    status = cli.json("status", "cli-emulated-1")
    assert [j["name"] for j in status["jobs"]] == [job]
    assert status["jobs"][0]["status"] == "InProgress"
    assert status["spec"]["instance_type"] == "ml.g5.12xlarge"  # the ledger's spec summary

    listed = cli.json("list", "--status", "InProgress")
    assert job in [row["job_name"] for row in listed]

    stopped = cli.json("stop", job)
    assert stopped["execution_name"] == "cli-emulated-1"
    emulator.wait_execution(first["execution_arn"])
    wait_for(lambda: emulator.sagemaker.job(job).status == "Stopped")  # the abort path ran
    code, _, err = cli.run("stop", job)
    assert code == 4 and "already finished" in err


def test_submit_wait_follows_the_real_state_machine_to_success(emulator, cli, tmp_path):
    emulator.sagemaker.auto_complete_after_s = 0.5
    emulator.sagemaker.auto_metrics = {"validation:accuracy": 0.9}
    try:
        code, out, err = cli.run("submit", write_spec(tmp_path, "cli-emulated-2"), "--wait")
    finally:
        emulator.sagemaker.auto_complete_after_s = None
    assert code == 0, err
    assert "Execution cli-emulated-2: SUCCEEDED" in out
    assert "validation:accuracy" in out and "Completed" in out


def test_list_experiment_shows_a_sweeps_trials_side_by_side(emulator, cli, tmp_path):
    """Issue 17: each sweep trial is a run of the experiment named after the sweep;
    `dtrain list --experiment` shows them with their hyperparameters and final metrics."""
    import json
    from pathlib import Path

    path = write_spec(tmp_path, "cli-sweep-exp")
    spec = json.loads(Path(path).read_text())
    spec["sweep"] = {
        "max_concurrency": 2,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [{"lr": 0.1}, {"lr": 0.01}],
    }
    Path(path).write_text(json.dumps(spec))
    submitted = cli.json("submit", path)
    jobs = emulator.jobs_of(submitted["execution_arn"], count=2)
    for job, value in zip(jobs, (0.6, 0.8), strict=True):
        emulator.sagemaker.complete(job, metrics={"validation:accuracy": value})
    emulator.wait_execution(submitted["execution_arn"])
    runs = cli.json("list", "--experiment", "cli-sweep-exp")
    assert {r["run_name"] for r in runs} == {"cli-sweep-exp-trial-0", "cli-sweep-exp-trial-1"}
    assert {r["job_name"]: r["final_metrics"]["validation:accuracy"] for r in runs} == dict(
        zip(jobs, (0.6, 0.8), strict=True)
    )
    assert {r["hyperparameters"]["lr"] for r in runs} == {0.1, 0.01}
    code, out, _ = cli.run("list", "--experiment", "cli-sweep-exp")
    assert code == 0 and "cli-sweep-exp-trial-1" in out and "validation:accuracy" in out
    # `dtrain status` of the sweep: the same runs side by side.
    status = cli.json("status", "cli-sweep-exp")
    assert status["experiment"]["name"] == "cli-sweep-exp"
    assert {r["run_name"]: r["hyperparameters"]["lr"] for r in status["experiment"]["runs"]} == {
        "cli-sweep-exp-trial-0": 0.1,
        "cli-sweep-exp-trial-1": 0.01,
    }
    code, out, _ = cli.run("status", "cli-sweep-exp")
    assert code == 0 and "Experiment cli-sweep-exp: 2 runs" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("RUN"))
    assert "lr" in header.split() and "validation:accuracy" in header.split()
