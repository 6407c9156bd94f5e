"""The handlers' output, as CloudWatch Logs receives it: structured JSON log records that carry
the correlation keys, and one EMF blob per invocation with the metrics the invocation counted.
Outside Lambda (here, and in the emulator) it is written to stderr: the CLI's stdout stays its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dtrain.orchestration import observability
from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.errors import CreateThrottled
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.submit import SubmitRequest, Submitter, sagemaker_client

EXEC = "arn:aws:states:us-east-1:123456789012:execution:sm:run-7"
NAMESPACE = "dtrain/TestPlatform"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(observability.NAMESPACE_ENV, NAMESPACE)
    for name, value in {"ATTEMPTS": "3", "BASE_S": "0.01", "CAP_S": "0.02"}.items():
        monkeypatch.setenv(f"DTRAIN_THROTTLE_{name}", value)


def output_records(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def log_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if "_aws" not in r]


def emf_metrics(records: list[dict[str, Any]]) -> dict[str, float]:
    """The metrics of the one EMF blob printed (each summed over its values, as the dashboard's Sum
    statistic does), checked against the EMF specification's shape."""
    blobs = [r for r in records if "_aws" in r]
    assert len(blobs) == 1, blobs
    (directive,) = blobs[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["service"]]
    names = [m["Name"] for m in directive["Metrics"]]
    assert all(m["Unit"] == "Count" for m in directive["Metrics"])
    values = {name: blobs[0][name] for name in names}
    return {n: sum(v) if isinstance(v, list) else v for n, v in values.items()} | {
        "service": blobs[0]["service"]
    }


def submit_event(spec: dict[str, Any], token: str, execution: str = EXEC) -> dict[str, Any]:
    return {
        "phase": "submit",
        "spec": spec,
        "task_token": token,
        "execution_arn": execution,
        "execution_name": execution.rpartition(":")[2],
        "item_index": 2,
        "is_sweep_item": True,
        "retry_count": 0,
    }


def test_a_submission_logs_json_with_its_correlation_keys_and_counts_one_submission(
    ledger: Ledger, spec: dict[str, Any], load_handler: Any, aws: Any, lambda_context: Any, capsys: Any
) -> None:
    out = load_handler("submit_job").handler(submit_event(spec, "token-0"), lambda_context)
    records = output_records(capsys.readouterr().err)
    (submitted,) = [r for r in log_records(records) if r["message"] == "job submitted"]
    assert submitted["service"] == "submit_job" and submitted["level"] == "INFO"
    assert (submitted["execution_name"], submitted["job_name"], submitted["item_index"]) == (
        "run-7",
        out["job_name"],
        2,
    )
    assert submitted["function_request_id"] == lambda_context.aws_request_id
    assert submitted["adopted"] is False
    assert emf_metrics(records) == {"Submissions": 1.0, "service": "submit_job"}


def test_an_adoption_counts_and_the_logic_modules_log_through_the_same_json_handler(
    ledger: Ledger, spec: dict[str, Any], load_handler: Any, aws: Any, lambda_context: Any, capsys: Any
) -> None:
    handler = load_handler("submit_job").handler
    first = handler(submit_event(spec, "token-0"), lambda_context)
    capsys.readouterr()
    again = handler(submit_event(spec, "token-1"), lambda_context)
    assert again == {"job_name": first["job_name"], "adopted": True}
    records = output_records(capsys.readouterr().err)
    assert emf_metrics(records) == {"Submissions": 1.0, "Adoptions": 1.0, "service": "submit_job"}
    # dtrain.orchestration.submit's own logger.info, written as a record of this invocation.
    (adopting,) = [r for r in log_records(records) if r["message"].startswith("adopting")]
    assert adopting["service"] == "submit_job" and adopting["name"] == "dtrain.orchestration.submit"
    assert (adopting["execution_name"], adopting["job_name"]) == ("run-7", first["job_name"])


def test_throttled_creates_are_counted_even_when_the_submit_fails(
    ledger: Ledger, spec: dict[str, Any], load_handler: Any, aws: Any, lambda_context: Any, capsys: Any
) -> None:
    handler = load_handler("submit_job").handler
    aws.throttle.rate_per_s = 0.001  # one create admitted, then throttled for ~1000 s
    handler(submit_event(spec, "token-0"), lambda_context)
    capsys.readouterr()
    with pytest.raises(CreateThrottled):
        handler(submit_event(spec, "token-x", execution=EXEC + "-other"), lambda_context)
    records = output_records(capsys.readouterr().err)
    assert aws.throttle.refused == 3
    assert emf_metrics(records) == {"ThrottledCreates": 3.0, "service": "submit_job"}


def test_an_answered_token_is_counted_under_the_function_that_answered_it(
    ledger: Ledger,
    sfn: Any,
    platform: Any,
    spec: dict[str, Any],
    load_handler: Any,
    aws: Any,
    lambda_context: Any,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submitter = Submitter(
        ledger=ledger,
        sagemaker=sagemaker_client("us-east-1"),
        sfn=sfn,
        platform=platform,
        region="us-east-1",
        backoff=BackoffPolicy(attempts=2, base_s=0.01, cap_s=0.01),
    )
    req = SubmitRequest(spec=spec, task_token="tok", execution_arn=EXEC, execution_name="run-7")
    job = submitter.submit(req).job_name
    capsys.readouterr()
    module = load_handler("job_events")
    # The environment's Step Functions client is the recorder (made once per environment).
    module.clients.get("stepfunctions", lambda session: sfn)
    event = {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Training Job State Change",
        "detail": {"TrainingJobName": job, "TrainingJobStatus": "Completed", "TrainingJobArn": f"arn:{job}"},
    }
    assert module.handler(event, lambda_context)["result"] == "answered"
    assert [name for name, _ in sfn.calls] == ["send_task_success"]
    records = output_records(capsys.readouterr().err)
    assert emf_metrics(records) == {"TokensAnswered": 1.0, "service": "job_events"}
    (record,) = log_records(records)
    assert (record["service"], record["job_name"], record["execution_name"], record["item_index"]) == (
        "job_events",
        job,
        "run-7",
        0,
    )
    # A duplicate event answers nothing: no metric, no EMF blob.
    module.handler(event, lambda_context)
    assert not [r for r in output_records(capsys.readouterr().err) if "_aws" in r]


def test_outside_an_invocation_correlate_and_count_do_nothing(capsys: Any) -> None:
    observability.correlate(job_name="j")
    observability.count(observability.Metric.SUBMISSIONS)
    assert observability.current() is None and capsys.readouterr().err == ""


def test_in_lambda_records_and_metrics_go_to_stdout(
    ledger: Ledger,
    spec: dict[str, Any],
    load_handler: Any,
    aws: Any,
    lambda_context: Any,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = load_handler("submit_job").handler
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")  # after the load: Tracer stays off here
    handler(submit_event(spec, "token-0"), lambda_context)
    captured = capsys.readouterr()
    records = output_records(captured.out)
    assert [r["message"] for r in log_records(records)][-1] == "job submitted"
    assert emf_metrics(records)["Submissions"] == 1.0 and output_records(captured.err) == []


@pytest.mark.parametrize(("disabled", "loads_xray"), [("true", False), ("false", True)])
def test_tracing_off_leaves_the_xray_sdk_out_of_the_cold_start(disabled: str, loads_xray: bool) -> None:
    code = (
        "import sys; from dtrain.orchestration.observability import Instruments; i = Instruments('x'); "
        "print(i.tracer is None, 'aws_xray_sdk' in sys.modules)"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": disabled, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(not loads_xray), str(loads_xray)]
