"""The remote commands' pure parts: names, digests, tarballs, log merging, phases, metrics, links."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dtrain.remote.cli_support import parse_since
from dtrain.remote.console_links import execution_link, training_job_link, training_logs_link
from dtrain.remote.errors import UsageError
from dtrain.remote.execution_names import check_execution_name, execution_name_for
from dtrain.remote.job_summary import spot_savings
from dtrain.remote.log_merge import LogLine, host_of, merge
from dtrain.remote.platform_stack import DeployedPlatform
from dtrain.remote.progress import LineRenderer, MetricTracker, ProgressSnapshot, RichRenderer, phase_states
from dtrain.remote.source_upload import pack_source_dir

SPEC = {"framework": "pytorch", "estimator": {"entry_point": "src/train_ddp.py", "instance_count": 2}}


def test_a_spec_with_job_name_runs_as_the_execution_of_that_name():
    assert execution_name_for({**SPEC, "job_name": "cifar10-0001"}) == "cifar10-0001"


def test_names_without_job_name_are_stable_per_spec_and_code_and_differ_otherwise():
    name = execution_name_for(SPEC)
    assert name.startswith("train-ddp-") and len(name) <= 80
    assert execution_name_for(dict(reversed(list(SPEC.items())))) == name  # key order is irrelevant
    assert execution_name_for({**SPEC, "estimator": {**SPEC["estimator"], "instance_count": 4}}) != name
    assert execution_name_for(SPEC, source_digest="a" * 64) != name
    check_execution_name(name)


def test_base_job_name_is_the_readable_stem_and_is_sanitised():
    spec = {**SPEC, "estimator": {**SPEC["estimator"], "base_job_name": "My Model_v2!"}}
    assert execution_name_for(spec).startswith("My-Model-v2-")


def test_a_bad_explicit_name_is_a_usage_error():
    with pytest.raises(UsageError, match="--name"):
        check_execution_name("has space")


def test_source_tarballs_are_reproducible_and_skip_bytecode(tmp_path: Path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "train.py").write_text("print(1)\n")
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    first = pack_source_dir(tmp_path, entry_point="train.py")
    (tmp_path / "train.py").touch()  # a new mtime alone changes nothing
    assert pack_source_dir(tmp_path).digest == first.digest
    with tarfile.open(fileobj=io.BytesIO(first.data)) as tar:
        assert tar.getnames() == ["pkg/mod.py", "train.py"]
    with pytest.raises(UsageError, match="entry_point"):
        pack_source_dir(tmp_path, entry_point="missing.py")


def test_host_labels_come_from_sagemaker_stream_names():
    assert host_of("job-1/algo-2-1700000000", "job-1") == "algo-2"
    assert host_of("job-1/algo-10-1700000000", "job-1") == "algo-10"
    assert host_of("job-1/custom", "job-1") == "custom"


def test_merge_interleaves_streams_by_time():
    a = [LogLine(1, "algo-1", "s1", "a"), LogLine(5, "algo-1", "s1", "c")]
    b = [LogLine(3, "algo-2", "s2", "b")]
    assert [line.message for line in merge([a, b])] == ["a", "b", "c"]


def test_spot_savings_follow_the_aws_definition():
    assert spot_savings(1000, 400) == 60.0
    assert spot_savings(1000, 1000) == 0.0
    assert spot_savings(None, 10) is None
    assert spot_savings(0, 0) is None


def test_phases_follow_the_secondary_status_history_including_spot_interruptions():
    transitions = [{"Status": "Starting"}, {"Status": "Downloading"}, {"Status": "Training"}]
    assert phase_states("Training", transitions) == {
        "Starting": "done",
        "Downloading": "done",
        "Training": "current",
        "Uploading": "pending",
    }
    interrupted = [*transitions, {"Status": "Interrupted"}]
    assert phase_states("Interrupted", interrupted)["Training"] == "done"
    assert phase_states("Completed", [*transitions, {"Status": "Uploading"}]) == dict.fromkeys(
        ("Starting", "Downloading", "Training", "Uploading"), "done"
    )


def test_metric_tracker_keeps_the_latest_value_of_each_definition():
    tracker = MetricTracker(
        [
            {"Name": "train:loss", "Regex": "train_loss=([0-9.eE+-]+)"},
            {"Name": "broken", "Regex": "("},  # SageMaker's to reject, ignored here
        ]
    )
    tracker.feed("epoch=1 train_loss=0.9")
    tracker.feed("unrelated line")
    tracker.feed("epoch=2 train_loss=2.5e-1")
    assert tracker.latest == {"train:loss": 0.25}


def test_renderers_show_the_snapshot():
    snapshot = ProgressSnapshot(
        execution_name="x",
        execution_status="RUNNING",
        job_name="x-job",
        job_status="InProgress",
        secondary_status="Interrupted",
        phases=phase_states("Interrupted", [{"Status": "Training"}, {"Status": "Interrupted"}]),
        interruptions=1,
        metrics={"train:loss": 0.5},
        last_lines={"algo-1": "epoch=1"},
    )
    lines = io.StringIO()
    renderer = LineRenderer(lines)
    renderer.update(snapshot)
    renderer.update(snapshot)  # unchanged: not repeated
    assert lines.getvalue().count("\n") == 1
    assert "InProgress / Interrupted" in lines.getvalue() and "spot interruptions: 1" in lines.getvalue()
    panel = io.StringIO()
    rich = RichRenderer(panel)
    rich.update(snapshot)
    rich.close()
    assert "Interrupted x1" in panel.getvalue() and "train:loss" in panel.getvalue()


def test_since_takes_durations_and_iso_dates():
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2w", now=now) == now - timedelta(weeks=2)
    assert parse_since("2026-11-20", now=now) == datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(UsageError):
        parse_since("last week", now=now)


def test_execution_arns_and_console_links():
    platform = DeployedPlatform(
        stack_name="S",
        region="eu-west-1",
        state_machine_arn="arn:aws:states:eu-west-1:111122223333:stateMachine:dtrain",
        ledger_table_name="t",
        artifacts_bucket="b",
    )
    arn = platform.execution_arn("job-1")
    assert arn == "arn:aws:states:eu-west-1:111122223333:execution:dtrain:job-1"
    assert execution_link("eu-west-1", arn).startswith("https://eu-west-1.console.aws.amazon.com/states/")
    assert training_job_link("cn-north-1", "j").startswith("https://cn-north-1.console.amazonaws.cn/")
    assert "$252Faws$252Fsagemaker$252FTrainingJobs" in training_logs_link("eu-west-1", "j")
