"""dtrain.demo (`make demo`): the synth table it prints, and one whole run through the emulator."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from dtrain.constructs.synthesis import SynthesizedApp
from dtrain.demo.emulated import render_table, run_emulated_demo, summarize_assembly


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


def _structured_log_lines(text: str) -> list[str]:
    """The lines of `text` that are a Lambda's structured records: a Powertools JSON log line
    (`level`, `service`) or an EMF metric blob (`_aws`), whatever prefix the line carries."""
    found = []
    for line in text.splitlines():
        start = line.find("{")
        try:
            record = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            continue
        if isinstance(record, dict) and ("_aws" in record or {"level", "service"} <= set(record)):
            found.append(line)
    return found


@pytest.mark.slow
def test_the_demo_trains_the_ddp_example_through_the_emulated_platform(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The whole demo once (~60 s: deploy, 2-host training, TorchServe): every assertion on
    `make demo`'s run shares this one run, its screen included."""
    report = run_emulated_demo(workdir=tmp_path)
    screen = capfd.readouterr()
    # The demo's screen (its own prints and every process it starts, on the terminal's file
    # descriptors) shows phases and the job's progress, never the functions' log records: those
    # go to their log groups and to the file the report names (issue 32).
    assert _structured_log_lines(screen.out + screen.err) == []
    assert report.lambda_log is not None
    delivered = _structured_log_lines(report.lambda_log.read_text())
    assert any('"_aws"' in line for line in delivered) and any('"level"' in line for line in delivered)
    assert report.submit_exit == 0
    assert report.status == "SUCCEEDED", (report.error, report.cause)
    # Finalize's output carries the job's final metrics and the model's emulated S3 URI.
    assert {"train:loss", "validation:accuracy"} <= set(report.output["final_metrics"])
    assert report.model_uri and report.model_uri.endswith("/output/model.tar.gz")
    assert report.model_copy is not None
    with tarfile.open(report.model_copy) as tar:
        assert "model.pt" in tar.getnames()
    # The trained model was deployed to an endpoint the emulator serves, and answered the
    # test images sent through InvokeEndpoint with one class per image.
    assert report.output["endpoint"]["status"] == "InService" and report.endpoint
    assert len(report.predictions) == 16
    assert all(0 <= predicted < 10 and 0.0 <= p <= 1.0 for _, predicted, p in report.predictions)
    # One notification from the platform topic, and the callback design's short history.
    assert len(report.notifications) == 1 and "deployed to" in str(report.notifications[0]["subject"])
    assert 0 < report.state_transitions <= 11 and report.history_events >= report.state_transitions
    assert any("AWS::FSx::FileSystem" in gap for gap in report.not_modelled)
    assert {
        "synth",
        "emulated deploy",
        "submit to first training step",
        "training",
        "callback to SUCCEEDED",
    } <= set(report.phases)


def test_the_report_prints_each_prediction_and_the_accuracy_on_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dtrain.demo.emulated import DemoReport, print_report

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
    """The check the demo's run is held to catches both kinds of record, as the functions
    write them (lambda.log's `<function> <record>` lines), and leaves the progress view alone."""
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
    assert _structured_log_lines(screen) == [f"DtrainOrchestration-SubmitJob {record}", blob]
