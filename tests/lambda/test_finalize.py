"""Finalize output, spot savings, plain-words causes and sweep ranking."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from dtrain.jobspec.errors import SpecError
from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.finalize import finalize_failure, finalize_sweep, plain_cause
from dtrain.orchestration.outcome import finalize_output, spot_savings_percent
from dtrain.orchestration.sweep import rank_results
from dtrain.orchestration.timeouts import wait_timeout_seconds


def test_spot_savings_is_one_minus_billable_over_training() -> None:
    assert spot_savings_percent(1000, 300) == 70.0
    assert spot_savings_percent(0, 0) is None


def test_finalize_output_carries_metrics_artifact_and_transitions() -> None:
    t = datetime(2026, 1, 1)
    job = {
        "TrainingJobName": "dtrain-a",
        "TrainingJobArn": "arn:x",
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/jobs/dtrain-a/output/model.tar.gz"},
        "FinalMetricDataList": [{"MetricName": "train:loss", "Value": 0.25}],
        "TrainingTimeInSeconds": 100,
        "BillableTimeInSeconds": 40,
        "EnableManagedSpotTraining": True,
        "SecondaryStatusTransitions": [{"Status": "Interrupted", "StartTime": t, "EndTime": t}],
    }
    out = finalize_output(job)
    assert out["spot_savings_percent"] == 60.0 and out["final_metrics"] == {"train:loss": 0.25}
    assert out["secondary_status_transitions"][0]["status"] == "Interrupted"
    json.dumps(out)  # Step Functions output must be JSON


def test_failure_cause_is_the_lambda_error_message_in_plain_words() -> None:
    payload = json.dumps({"errorType": "SpecError", "errorMessage": "estimator.max_wait: 1800: too small"})
    out = finalize_failure(
        {"Error": "SpecError", "Cause": payload}, region="r", execution_arn="a", execution_name="n"
    )
    assert out["cause"] == "estimator.max_wait: 1800: too small"
    assert plain_cause("AlgorithmError: x") == "AlgorithmError: x"


def test_sweep_results_rank_best_first_and_failed_last() -> None:
    rows = [
        {"job_name": "a", "final_metrics": {"loss": 0.5}},
        {"job_name": "b", "status": "Failed", "final_metrics": {}},
        {"job_name": "c", "final_metrics": {"loss": 0.2}},
    ]
    assert [r["job_name"] for r in rank_results(rows, "loss", "minimize")] == ["c", "a", "b"]
    table = finalize_sweep(rows, {"metric": "loss", "goal": "minimize"}, region="r", execution_arn="a")
    assert table["result"]["best"]["job_name"] == "c"


def _parse_sweep(raw: object) -> Any:
    from dtrain.jobspec.errors import ErrorCollector
    from dtrain.jobspec.sweep_spec import parse_sweep

    errors = ErrorCollector()
    sweep = parse_sweep(raw, "pytorch", errors)
    errors.raise_if_any()
    return sweep


def test_sweep_block_errors_name_the_field() -> None:
    with pytest.raises(SpecError, match=r"sweep.max_concurrency"):
        _parse_sweep({"overrides": [{"lr": 1}], "max_concurrency": 0, "objective": {"metric": "m"}})


def test_wait_timeout_uses_max_wait_for_spot_and_caps_at_a_year() -> None:
    req: dict[str, Any] = {"StoppingCondition": {"MaxRuntimeInSeconds": 100, "MaxWaitTimeInSeconds": 500}}
    assert wait_timeout_seconds(req, 10) == 110
    assert wait_timeout_seconds({**req, "EnableManagedSpotTraining": True}, 10) == 510
    assert wait_timeout_seconds({"StoppingCondition": {"MaxRuntimeInSeconds": 10**9}}, 0) == 365 * 24 * 3600


def test_full_jitter_delay_stays_within_the_exponential_cap() -> None:
    policy = BackoffPolicy(attempts=5, base_s=1.0, cap_s=4.0)
    assert [policy.delay(a, rand=lambda: 1.0) for a in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert policy.delay(3, rand=lambda: 0.0) == 0.0


def test_sweep_concurrency_is_bounded_by_the_inline_map_limit() -> None:
    from dtrain.orchestration.sweep import MAX_SWEEP_CONCURRENCY

    ok = {"overrides": [{"lr": 1}], "objective": {"metric": "m"}}
    assert _parse_sweep({**ok, "max_concurrency": MAX_SWEEP_CONCURRENCY}).max_concurrency == 40
    with pytest.raises(SpecError, match=r"sweep.max_concurrency.*1 to 40"):
        _parse_sweep({**ok, "max_concurrency": MAX_SWEEP_CONCURRENCY + 1})
