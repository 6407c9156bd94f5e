"""dtrain submit|status|logs|stop|list against a platform deployed in moto: outputs and exit codes."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime

import boto3
import pytest

REGION = "us-east-1"
BUCKET = "dtrain-artifacts-test"
# CloudWatch Logs refuses events older than 14 days: log times are taken from now.
T0 = int(datetime.now(UTC).timestamp() * 1000) - 60_000


def executions_named(platform, name):
    listed = platform.sfn.list_executions(stateMachineArn=platform.state_machine_arn)["executions"]
    return [e for e in listed if e["name"] == name]


# -- finding the platform ------------------------------------------------------------------


def test_a_missing_stack_says_the_platform_is_not_deployed(platform, cli):
    code, out, err = cli.run("list", "--stack", "NoSuchStack")
    assert code == 3
    assert out == ""
    assert "not deployed" in err and "NoSuchStack" in err and REGION in err


def test_a_stack_without_the_platform_outputs_is_refused_naming_them(platform, cli):
    code, _, err = cli.run("status", "anything", "--stack", "SomethingElse")
    assert code == 3
    assert "StateMachineArn" in err and "LedgerTableName" in err


def test_the_stack_name_comes_from_DTRAIN_STACK(platform, cli, monkeypatch):
    monkeypatch.setenv("DTRAIN_STACK", "NoSuchStack")
    code, _, err = cli.run("list")
    assert code == 3 and "NoSuchStack" in err


def test_missing_credentials_are_reported_without_a_traceback(platform, cli, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    code, _, err = cli.run("list")
    assert code == 3
    assert "no AWS credentials" in err and "Traceback" not in err


def test_a_missing_region_is_reported(platform, cli, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    code, _, err = cli.run("status", "x")
    assert code == 3 and "no AWS region" in err


# -- submit ---------------------------------------------------------------------------------


def test_submit_starts_one_execution_named_after_the_job_with_the_spec_as_input(platform, cli):
    spec = platform.spec("cli-submit-a")
    path = platform.write_spec("a", spec)
    code, out, err = cli.run("submit", str(path))
    assert code == 0, err
    assert "submitted execution cli-submit-a" in out
    assert "console.aws.amazon.com/states/home?region=us-east-1" in out
    (execution,) = executions_named(platform, "cli-submit-a")
    assert execution["status"] == "RUNNING"
    described = platform.sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == spec


def test_submitting_the_same_spec_twice_shows_the_running_one_and_starts_nothing(platform, cli):
    path = platform.write_spec("b", platform.spec("cli-submit-b"))
    first = cli.json("submit", str(path))
    assert first["already_submitted"] is False
    code, out, err = cli.run("submit", str(path))
    assert code == 0, err
    assert "already submitted" in out and "not starting a second job" in out
    second = cli.json("submit", str(path))
    assert second["already_submitted"] is True
    assert second["execution_arn"] == first["execution_arn"]
    assert len(executions_named(platform, "cli-submit-b")) == 1


def test_a_different_spec_under_a_running_name_is_a_conflict(platform, cli):
    cli.run("submit", str(platform.write_spec("c1", platform.spec("cli-submit-c"))))
    changed = platform.spec("cli-submit-c", hyperparameters={"epochs": 5})
    code, _, err = cli.run("submit", str(platform.write_spec("c2", changed)))
    assert code == 4
    assert "different spec" in err and "cli-submit-c" in err
    assert len(executions_named(platform, "cli-submit-c")) == 1


def test_a_spec_that_already_ran_is_refused_with_exit_4(platform, cli):
    path = platform.write_spec("d", platform.spec("cli-submit-d"))
    arn = cli.json("submit", str(path))["execution_arn"]
    platform.sfn.stop_execution(executionArn=arn)
    code, _, err = cli.run("submit", str(path))
    assert code == 4
    assert "already ran" in err and "ABORTED" in err and "new job_name" in err


def test_an_invalid_spec_exits_2_with_every_error_and_sends_nothing(platform, cli):
    spec = platform.spec("cli-submit-bad", instance_type="g5.xlarge", use_spot_instances=True, max_run=3600)
    spec["estimator"]["max_wait"] = 60
    code, out, err = cli.run("submit", str(platform.write_spec("bad", spec)))
    assert code == 2
    assert out == ""
    assert "estimator.instance_type" in err and "estimator.max_wait" in err
    assert "Traceback" not in err
    assert executions_named(platform, "cli-submit-bad") == []


def test_a_spec_the_platform_cannot_run_is_refused_before_starting(platform, cli):
    # The platform of this stack has no FSx file system: the request builder refuses the channel.
    spec = platform.spec("cli-submit-fsx")
    spec["inputs"] = {"train": {"file_system": "fsx", "path": "datasets/cifar10"}}
    code, _, err = cli.run("submit", str(platform.write_spec("fsx", spec)))
    assert code == 2
    assert "inputs.train" in err
    assert executions_named(platform, "cli-submit-fsx") == []


def test_interrupting_wait_leaves_the_job_running_and_says_how_to_reach_it(platform, cli, monkeypatch):
    import time

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupt)
    code, _, err = cli.run(
        "submit", str(platform.write_spec("ctrl-c", platform.spec("cli-submit-ctrl-c"))), "--wait"
    )
    assert code == 130
    assert "cli-submit-ctrl-c keeps running" in err and "dtrain stop cli-submit-ctrl-c" in err
    (execution,) = executions_named(platform, "cli-submit-ctrl-c")
    assert execution["status"] == "RUNNING"


def test_a_missing_spec_file_is_a_usage_error(platform, cli):
    code, _, err = cli.run("submit", str(platform.tmp / "nope.json"))
    assert code == 2 and "nope.json" in err


def test_local_source_dir_is_uploaded_as_sourcedir_tarball_and_named_by_digest(platform, cli):
    code_dir = platform.tmp / "code"
    code_dir.mkdir()
    (code_dir / "train.py").write_text("print('hello')\n")
    (code_dir / "util.py").write_text("X = 1\n")
    spec = platform.spec(None, entry_point="train.py", source_dir="code", base_job_name="cifar")
    path = platform.write_spec("src", spec)

    first = cli.json("submit", str(path))
    name = first["execution_name"]
    assert name.startswith("cifar-")
    key = f"{name}/source/sourcedir.tar.gz"
    assert first["source_dir"] == f"s3://{BUCKET}/{key}"
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert sorted(tar.getnames()) == ["train.py", "util.py"]
    described = platform.sfn.describe_execution(executionArn=first["execution_arn"])
    assert json.loads(described["input"])["estimator"]["source_dir"] == first["source_dir"]

    # Same spec and code: the same execution. Edited code: a new one.
    assert cli.json("submit", str(path))["already_submitted"] is True
    (code_dir / "train.py").write_text("print('edited')\n")
    edited = cli.json("submit", str(path))
    assert edited["execution_name"] != name and edited["already_submitted"] is False


# -- status ---------------------------------------------------------------------------------

FINISHED_JOB = {
    "training_job_status": "Completed",
    "secondary_status": "Completed",
    "training_time_in_seconds": 1000,
    "billable_time_in_seconds": 400,
    "secondary_status_transitions": [
        {"Status": "Starting", "StartTime": datetime(2026, 11, 20, 10, 0, tzinfo=UTC)},
        {"Status": "Training", "StartTime": datetime(2026, 11, 20, 10, 5, tzinfo=UTC)},
        {"Status": "Interrupted", "StartTime": datetime(2026, 11, 20, 10, 9, tzinfo=UTC)},
        {"Status": "Training", "StartTime": datetime(2026, 11, 20, 10, 12, tzinfo=UTC)},
        {"Status": "Uploading", "StartTime": datetime(2026, 11, 20, 10, 30, tzinfo=UTC)},
        {"Status": "Completed", "StartTime": datetime(2026, 11, 20, 10, 31, tzinfo=UTC)},
    ],
    "final_metric_data_list": [
        {"MetricName": "validation:accuracy", "Value": 0.91, "Timestamp": datetime(2026, 11, 20, tzinfo=UTC)}
    ],
}


@pytest.fixture(scope="module")
def finished_job(platform):
    """An execution (RUNNING in moto) whose Submit recorded job `cli-status-job-abc`."""
    platform.sfn.start_execution(stateMachineArn=platform.state_machine_arn, name="cli-status", input="{}")
    platform.put_ledger_row("cli-status-job-abc", "cli-status", status="Completed", token_state="CLOSED")
    platform.create_training_job("cli-status-job-abc", **FINISHED_JOB)
    return "cli-status-job-abc"


def test_status_shows_timings_billable_time_spot_savings_and_metrics(platform, cli, finished_job):
    summary = cli.json("status", finished_job)
    (job,) = summary["jobs"]
    assert job["name"] == finished_job and job["status"] == "Completed"
    assert job["training_seconds"] == 1000 and job["billable_seconds"] == 400
    assert job["spot_savings_percent"] == 60.0
    assert job["interruptions"] == 1
    assert job["metrics"] == {"validation:accuracy": 0.91}
    assert summary["execution"]["name"] == "cli-status"
    assert summary["spec"]["instance_type"] == "ml.g5.12xlarge"

    code, out, _ = cli.run("status", finished_job)
    assert code == 0
    assert "spot savings" in out and "60.0%" in out
    assert "billable time" in out and "6m40s" in out
    assert "validation:accuracy" in out
    assert "sagemaker/home?region=us-east-1#/jobs/cli-status-job-abc" in out


def test_status_finds_the_job_by_execution_name_and_arn(platform, cli, finished_job):
    by_name = cli.json("status", "cli-status")
    by_arn = cli.json("status", platform.execution_arn("cli-status"))
    assert [j["name"] for j in by_name["jobs"]] == [finished_job]
    assert by_arn["jobs"] == by_name["jobs"]


def test_status_of_a_just_submitted_execution_says_no_job_yet(platform, cli):
    cli.run("submit", str(platform.write_spec("e", platform.spec("cli-status-new"))))
    code, out, _ = cli.run("status", "cli-status-new")
    assert code == 0
    assert "Execution cli-status-new: RUNNING" in out and "not created yet" in out
    assert "ml.g5.12xlarge" in out  # the spec summary, read from the execution input


def test_a_sweep_execution_shows_each_job_and_logs_asks_for_one(platform, cli):
    platform.sfn.start_execution(stateMachineArn=platform.state_machine_arn, name="cli-sweep", input="{}")
    for index in (0, 1):
        name = f"cli-sweep-{index}-f00d"
        platform.put_ledger_row(name, "cli-sweep", created_at=f"2026-11-20T10:00:0{index}Z")
        platform.create_training_job(name, final_metric_data_list=[])
    summary = cli.json("status", "cli-sweep")
    assert [job["name"] for job in summary["jobs"]] == ["cli-sweep-0-f00d", "cli-sweep-1-f00d"]
    code, _, err = cli.run("logs", "cli-sweep")
    assert code == 1 and "has 2 jobs" in err and "cli-sweep-1-f00d" in err
    code, _, err = cli.run("logs", "cli-sweep-1-f00d")  # naming one job of the sweep picks it
    assert code == 0 and "no log lines for cli-sweep-1-f00d" in err


def test_status_of_an_unknown_job_exits_1(platform, cli):
    code, out, err = cli.run("status", "no-such-job")
    assert code == 1 and out == ""
    assert "no job or execution named 'no-such-job'" in err
    for odd in ("has spaces", platform.execution_arn("never-started")):
        code, _, err = cli.run("status", odd)
        assert code == 1, err


# -- logs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logged_job(platform, finished_job):
    platform.put_logs(finished_job, "algo-1", [(T0 + 1000, "a1 first"), (T0 + 3000, "a1 second")])
    platform.put_logs(finished_job, "algo-2", [(T0 + 2000, "a2 first"), (T0 + 4000, "a2 second")])
    return finished_job


def test_logs_merge_hosts_in_time_order_labelled_by_host(platform, cli, logged_job):
    code, out, _ = cli.run("logs", logged_job)
    assert code == 0
    assert out.splitlines() == [
        "[algo-1] a1 first",
        "[algo-2] a2 first",
        "[algo-1] a1 second",
        "[algo-2] a2 second",
    ]


def test_logs_of_one_host_and_as_json_lines(platform, cli, logged_job):
    code, out, _ = cli.run("logs", "cli-status", "--host", "algo-2", "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(x["host"], x["message"], x["timestamp"]) for x in lines] == [
        ("algo-2", "a2 first", T0 + 2000),
        ("algo-2", "a2 second", T0 + 4000),
    ]


def test_logs_follow_of_a_finished_job_prints_everything_and_returns(platform, cli, logged_job):
    code, out, _ = cli.run("logs", logged_job, "--follow")
    assert code == 0 and len(out.splitlines()) == 4


def test_logs_follow_prints_new_lines_until_the_job_ends(platform, cli, monkeypatch):
    import time

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemaker.models import sagemaker_backends

    job = "cli-logs-follow"
    platform.create_training_job(job, training_job_status="InProgress", secondary_status="Training")
    platform.put_logs(job, "algo-1", [(T0, "epoch=1")])
    polls = []

    def next_poll(seconds: float) -> None:
        # Between two polls, the job logs more and then finishes (what SageMaker would do).
        polls.append(seconds)
        if len(polls) == 1:
            platform.put_logs(job, "algo-2", [(T0 + 10, "epoch=2")])
        elif len(polls) == 2:
            platform.put_logs(job, "algo-1", [(T0 + 20, "model saved")])
            backend_job = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].training_jobs[job]
            backend_job.training_job_status = "Completed"

    monkeypatch.setattr(time, "sleep", next_poll)
    code, out, _ = cli.run("logs", job, "--follow")
    assert code == 0
    assert out.splitlines() == ["[algo-1] epoch=1", "[algo-2] epoch=2", "[algo-1] model saved"]
    assert len(polls) == 3  # two polls while running, one final read after it ended


def test_logs_of_a_job_without_streams_says_so(platform, cli):
    platform.create_training_job("cli-logs-silent")
    code, out, err = cli.run("logs", "cli-logs-silent")
    assert code == 0 and out == "" and "no log lines" in err


def test_logs_of_an_unknown_job_exits_1(platform, cli):
    code, _, err = cli.run("logs", "no-such-job")
    assert code == 1 and "no-such-job" in err


# -- stop -----------------------------------------------------------------------------------


def test_stop_aborts_a_running_execution_then_refuses_a_second_stop(platform, cli):
    cli.run("submit", str(platform.write_spec("s", platform.spec("cli-stop-a"))))
    result = cli.json("stop", "cli-stop-a")
    assert result["previous_status"] == "RUNNING"
    described = platform.sfn.describe_execution(executionArn=platform.execution_arn("cli-stop-a"))
    assert described["status"] == "ABORTED"

    code, out, err = cli.run("stop", "cli-stop-a")
    assert code == 4 and out == ""
    assert "already finished" in err and "ABORTED" in err


def test_stop_of_a_finished_job_names_its_training_job_status(platform, cli, finished_job):
    platform.sfn.stop_execution(executionArn=platform.execution_arn("cli-status"))
    code, _, err = cli.run("stop", finished_job)
    assert code == 4
    assert "already finished" in err and "cli-status-job-abc: Completed" in err


def test_stop_of_an_unknown_job_exits_1(platform, cli):
    code, _, err = cli.run("stop", "no-such-job")
    assert code == 1 and "no-such-job" in err


# -- list -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed_jobs(platform):
    platform.put_ledger_row(
        "cli-list-old", "cli-list-old", status="Failed", created_at="2026-01-01T00:00:00Z"
    )
    platform.put_ledger_row(
        "cli-list-new", "cli-list-new", status="InProgress", created_at=datetime.now(UTC).isoformat()
    )


def test_list_shows_ledger_rows_newest_first(platform, cli, listed_jobs):
    rows = cli.json("list", "--limit", "0")
    names = [row["job_name"] for row in rows]
    assert names.index("cli-list-new") < names.index("cli-list-old")
    code, out, _ = cli.run("list")
    assert code == 0
    assert "cli-list-new" in out and "InProgress" in out and "ml.g5.12xlarge" in out


def test_list_filters_by_status_and_age(platform, cli, listed_jobs):
    failed = cli.json("list", "--status", "failed")
    assert [r["job_name"] for r in failed] == ["cli-list-old"]
    recent = cli.json("list", "--since", "2h")
    assert "cli-list-new" in [r["job_name"] for r in recent]
    assert "cli-list-old" not in [r["job_name"] for r in recent]
    since_date = cli.json("list", "--since", "2025-12-31")
    assert "cli-list-old" in [r["job_name"] for r in since_date]


def test_list_refuses_a_bad_since_with_exit_2(platform, cli):
    code, _, err = cli.run("list", "--since", "yesterday")
    assert code == 2 and "--since" in err


def test_every_remote_command_documents_its_exit_codes(cli, capsys):
    for command in ("submit", "status", "logs", "stop", "list"):
        with pytest.raises(SystemExit) as exited:
            cli.run(command, "--help")
        assert exited.value.code == 0
        out = capsys.readouterr().out
        assert "exit codes:" in out and "3  platform not reachable" in out, command
