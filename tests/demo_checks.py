"""What one whole `make demo` run must show: its screen and its report (dtrain.demo.emulated).

The suite runs the demo once, from the installed wheel (tests/packaging/test_installed_wheel.py:
`dtrain demo`, as a team runs it, ~30 CPU-s); every assertion on a demo run is here and holds for
that run. tests/stacks/test_demo.py checks the pieces (the synth table, the printed report, this
screen check) without a run.
"""

from __future__ import annotations

import json
import tarfile

from dtrain.demo.emulated import DemoReport


def structured_log_lines(text: str) -> list[str]:
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


def check_demo_run(report: DemoReport, screen: str) -> None:
    """The demo trained the DDP example on two simulated hosts through the emulated platform,
    served the model and predicted; `screen`: everything the run wrote to its terminal."""
    # The demo's screen (its own prints and every process it starts, on the terminal's file
    # descriptors) shows phases and the job's progress, never the functions' log records: those
    # go to their log groups and to the file the report names (issue 32).
    assert structured_log_lines(screen) == []
    assert report.lambda_log is not None
    delivered = structured_log_lines(report.lambda_log.read_text())
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
