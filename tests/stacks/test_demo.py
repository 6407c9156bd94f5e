"""dtrain.demo (`make demo`): the synth table it prints, the report, the check on its screen.

The whole run is checked once in the suite, on the demo the installed wheel runs
(tests/packaging/test_installed_wheel.py, with tests/demo_checks.py's assertions, which were this
file's): a second run here, from the checkout, was the same deploy, 2-host training and model
server again (~30 CPU-s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtrain.constructs.synthesis import SynthesizedApp
from dtrain.demo.emulated import DemoReport, render_table, summarize_assembly
from tests.demo_checks import structured_log_lines


def test_summary_counts_every_resource_by_type(synthesized_app: SynthesizedApp) -> None:
    summaries = {s.name: s for s in summarize_assembly(synthesized_app.outdir)}
    assert set(summaries) == {"DtrainNetwork", "DtrainStorage", "DtrainTraining", "DtrainOrchestration"}
    for name, summary in summaries.items():
        template = synthesized_app.template_dicts[name.removeprefix("Dtrain").lower()]
        non_metadata = [r for r in template["Resources"].values() if r["Type"] != "AWS::CDK::Metadata"]
        assert summary.resource_count == len(non_metadata)
    network = summaries["DtrainNetwork"].resource_types
    # Seven interface endpoints; the S3 gateway endpoint sits in storage, whose buckets its policy names.
    assert network["AWS::EC2::VPCEndpoint"] == 7
    assert summaries["DtrainStorage"].resource_types["AWS::EC2::VPCEndpoint"] == 1
    assert summaries["DtrainStorage"].resource_types["AWS::FSx::FileSystem"] == 1
    assert summaries["DtrainTraining"].image_assets == ("ddp/Dockerfile", "horovod/Dockerfile")
    assert summaries["DtrainOrchestration"].resource_types["AWS::StepFunctions::StateMachine"] == 1


def test_table_lists_each_stack_and_the_totals(synthesized_app: SynthesizedApp) -> None:
    summaries = summarize_assembly(synthesized_app.outdir)
    table = render_table(summaries)
    assert "DtrainOrchestration  (" in table
    assert "AWS::FSx::DataRepositoryAssociation" in table
    total = sum(s.resource_count for s in summaries)
    assert table.splitlines()[-1] == f"{len(summaries)} stacks, {total} resources"


def test_the_report_prints_each_prediction_and_the_accuracy_on_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dtrain.demo.emulated import print_report

    report = DemoReport(
        status="SUCCEEDED",
        output={"job_name": "j", "endpoint": {"endpoint_name": "ep", "status": "InService"}},
        endpoint="ep",
        predictions=[(3, 3, 0.91), (1, 8, 0.4)],
    )
    print_report(report)
    out = capsys.readouterr().out
    assert "endpoint    ep InService" in out
    assert "   0  cat        p=0.91  ok" in out and "   1  ship       p=0.40  (true: automobile)" in out
    assert "accuracy    1/2 = 0.50 on these images" in out


def test_the_screen_check_finds_powertools_lines_and_metric_blobs() -> None:
    """The check the demo's run is held to (tests/demo_checks.py) catches both kinds of record, as
    the functions write them (lambda.log's `<function> <record>` lines), and leaves the progress
    view alone."""
    record = '{"level":"INFO","message":"job submitted","service":"submit_job","cold_start":false}'
    blob = '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"service":"submit_job","Submissions":[1.0]}'
    screen = "\n".join(
        [
            "== submit --wait ...",
            f"DtrainOrchestration-SubmitJob {record}",
            blob,
            "[     3s] execution RUNNING | job j: InProgress / Starting",
            'spec {"epochs": 2}',
        ]
    )
    assert structured_log_lines(screen) == [f"DtrainOrchestration-SubmitJob {record}", blob]


def test_a_saved_report_loads_as_it_was(tmp_path: Path) -> None:
    """`dtrain demo` saves its report (report.json) for whoever ran it as a program: the
    installed-wheel test checks the suite's one demo run through it."""
    report = DemoReport(
        status="SUCCEEDED",
        phases={"synth": 0.5},
        output={"endpoint": {"status": "InService"}},
        model_copy=tmp_path / "model.tar.gz",
        lambda_log=tmp_path / "lambda.log",
        predictions=[(3, 3, 0.91)],
        notifications=[{"subject": "deployed to ep"}],
    )
    report.save(tmp_path / "report.json")
    assert DemoReport.load(tmp_path / "report.json") == report
