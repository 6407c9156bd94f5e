"""`dtrain submit --wait`: follows the execution to its end; exit 0 only on success.

Here moto executes the state machines (Pass = a job that succeeds, Fail = one that fails),
so the CLI sees executions move from RUNNING to their end as it polls.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

SUCCEEDS = {
    "StartAt": "Train",
    "States": {
        "Train": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
        "Done": {"Type": "Pass", "End": True},
    },
}
FAILS = {
    "StartAt": "Train",
    "States": {
        "Train": {
            "Type": "Fail",
            "Error": "SageMaker.TrainingJobFailed",
            "Cause": "AlgorithmError: CUDA out of memory",
        }
    },
}
METRICS = [
    {"Name": "train:loss", "Regex": "train_loss=([0-9.eE+-]+)"},
    {"Name": "epoch", "Regex": "epoch=([0-9]+)"},
]


@pytest.fixture(scope="module")
def platform(aws_env, platform_builder, tmp_path_factory):
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        arn = platform_builder.deploy(SUCCEEDS)
        platform_builder.add_stack("DtrainFailing", FAILS)
        yield platform_builder.platform(arn, tmp_path_factory.mktemp("wait-specs"))


@pytest.fixture
def slow_poll(monkeypatch):
    monkeypatch.setenv("DTRAIN_POLL_SECONDS", "0.2")


def test_wait_follows_a_successful_job_showing_phases_and_metrics(platform, cli, slow_poll):
    # What the Submit Lambda and SageMaker would have produced for this execution.
    job = "cli-wait-ok-job-1a2b"
    platform.put_ledger_row(job, "cli-wait-ok")
    platform.create_training_job(
        job,
        training_time_in_seconds=120,
        billable_time_in_seconds=30,
        secondary_status_transitions=[
            {"Status": "Starting", "StartTime": datetime(2026, 11, 20, tzinfo=UTC)},
            {"Status": "Training", "StartTime": datetime(2026, 11, 20, 0, 1, tzinfo=UTC)},
            {"Status": "Completed", "StartTime": datetime(2026, 11, 20, 0, 3, tzinfo=UTC)},
        ],
    )
    backend_job = sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].training_jobs[job]
    backend_job.algorithm_specification["MetricDefinitions"] = METRICS
    now = int(datetime.now(UTC).timestamp() * 1000)
    platform.put_logs(job, "algo-1", [(now - 2000, "epoch=1 step=10 train_loss=0.9000 val_acc=0.5")])
    platform.put_logs(job, "algo-1", [(now - 1000, "epoch=2 step=20 train_loss=0.2500 val_acc=0.8")], epoch=2)

    path = platform.write_spec("ok", platform.spec("cli-wait-ok"))
    code, out, err = cli.run("submit", str(path), "--wait")
    assert code == 0, err
    assert "execution SUCCEEDED" in err
    assert f"job {job}: Completed" in err
    assert "train:loss=0.25" in err and "epoch=2" in err  # latest values from the logs
    assert "Execution cli-wait-ok: SUCCEEDED" in out
    assert "spot savings" in out and "75.0%" in out


def test_wait_exits_1_with_the_cause_when_the_job_fails(platform, cli):
    path = platform.write_spec("fail", platform.spec("cli-wait-fail"))
    code, out, err = cli.run("submit", str(path), "--wait", "--stack", "DtrainFailing")
    assert code == 1
    assert "Execution cli-wait-fail: FAILED" in out
    assert "execution FAILED: SageMaker.TrainingJobFailed: AlgorithmError: CUDA out of memory" in err


def test_wait_with_json_prints_one_document(platform, cli):
    path = platform.write_spec("json", platform.spec("cli-wait-json"))
    code, out, err = cli.run("submit", str(path), "--wait", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["submitted"]["execution_name"] == "cli-wait-json"
    assert document["result"]["execution"]["status"] == "SUCCEEDED"
