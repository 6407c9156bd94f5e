"""Issue 19 items 2-4 end to end: whatever ends an execution, its jobs are stopped; transient
SageMaker errors are retried; an execution name reused after 90 days starts a new job.

The emulator's service_behaviour supplies what moto lacks: SageMaker 5xx, lost Step Functions
events, a clock that moves.
"""

from __future__ import annotations

import json
import time
from typing import Any

from dtrain.emulator import Emulator


def _wait(predicate: Any, emu: Emulator, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        emu.drain_events()
        time.sleep(0.05)


def _row_status(emu: Emulator, job: str) -> str:
    row = emu.ledger().get(job)
    return row.status if row else ""


def test_a_lost_abort_event_leaves_the_job_to_reconcile(emulator: Emulator, make_spec: Any) -> None:
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    _wait(lambda: _row_status(emulator, job) == "InProgress", emulator)
    emulator.behaviour.lose_execution_events(1)
    emulator.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="lost event")
    assert emulator.wait_execution(arn)["status"] == "ABORTED"
    assert emulator.behaviour.lost_execution_events[-1]["executionArn"] == arn
    assert emulator.sagemaker.job(job).status == "InProgress"  # nothing stopped it yet
    report = emulator.reconcile()
    assert report["stopped"] == [job]
    assert emulator.sagemaker.job(job).status == "Stopped"


def test_a_submit_racing_an_abort_stops_the_job_it_creates(emulator: Emulator, make_spec: Any) -> None:
    """The abort comes while Submit is in its throttle back-off: the abort finds a
    "Submitting" row and no job; Submit creates the job afterwards and stops it itself."""
    throttle = emulator.sagemaker.throttle
    throttle.rate_per_s = 0.001
    throttle._next_slot = time.monotonic() + 3600  # CreateTrainingJob refused until released
    try:
        arn = emulator.start_execution(make_spec())
        ledger = emulator.ledger()
        _wait(lambda: bool(ledger.find_by_execution(arn)), emulator)
        (row,) = ledger.find_by_execution(arn)
        assert row.status == "Submitting" and row.job_name not in emulator.sagemaker.jobs
        emulator.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="race")
        assert emulator.describe_execution(arn)["status"] == "ABORTED"
        # AWS puts the ABORTED event at once; moto only when the running Lambda returns, so
        # the test delivers it to the abort Lambda as EventBridge would: no job to stop yet.
        event = {
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": arn, "status": "ABORTED"},
        }
        assert emulator.invoke("AbortJob", event) == {"stopped": []}
        assert row.job_name not in emulator.sagemaker.jobs
        throttle._next_slot = 0.0  # Submit's next attempt in its back-off creates the job
        _wait(lambda: row.job_name in emulator.sagemaker.jobs, emulator, timeout=60)
        _wait(lambda: emulator.sagemaker.job(row.job_name).status == "Stopped", emulator)
        emulator.wait_execution(arn)
    finally:
        throttle.rate_per_s = None


def test_a_transient_sagemaker_error_is_retried_and_runs_one_job(emulator: Emulator, make_spec: Any) -> None:
    # 4 failures outlast botocore's 3 attempts once: Submit fails with SageMakerTransient,
    # the state machine retries it, the retry adopts the job the first attempt created.
    emulator.behaviour.fail_sagemaker("DescribeTrainingJob", code="InternalFailure", status=500, times=4)
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    _wait(lambda: _row_status(emulator, job) == "InProgress", emulator, timeout=60)
    emulator.sagemaker.complete(job, metrics={"validation:accuracy": 0.5})
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "SUCCEEDED"
    assert [r.job_name for r in emulator.ledger().find_by_execution(arn)] == [job]
    errors = [i.error for i in emulator.runtime.invocations if "SubmitJob" in i.function_name and i.error]
    assert "SageMakerTransient" in errors


def test_a_job_created_before_submit_failed_for_good_is_stopped(emulator: Emulator, make_spec: Any) -> None:
    emulator.behaviour.fail_sagemaker("DescribeTrainingJob", code="ServiceUnavailable", status=503, times=100)
    try:
        arn = emulator.start_execution(make_spec())
        (job,) = emulator.jobs_of(arn)
        desc = emulator.wait_execution(arn, timeout=120)
    finally:
        emulator.behaviour.sagemaker_faults.clear()
    assert desc["status"] == "FAILED" and desc["error"] == "SageMakerTransient"
    emulator.drain_events()  # the FAILED execution's event reaches the abort Lambda
    assert emulator.sagemaker.job(job).status == "Stopped"


def test_a_name_reused_after_90_days_starts_a_new_job(emulator: Emulator, make_spec: Any) -> None:
    """Issue 19 item 4: same name, same input, 91 days later: the old Completed job was
    adopted and the execution SUCCEEDED at once with the old model."""
    spec = make_spec(hyperparameters={"epochs": 1, "lr": 0.123})
    name = "reused-name"
    first = emulator.start_execution(spec, name=name)
    (old_job,) = emulator.jobs_of(first)
    emulator.sagemaker.complete(old_job, metrics={"validation:accuracy": 0.1})
    assert emulator.wait_execution(first)["status"] == "SUCCEEDED"
    emulator.behaviour.advance(days=91)
    try:
        second = emulator.start_execution(spec, name=name)
        assert second == first  # the same ARN
        new_job = next(n for n in emulator.jobs_of(second, count=2) if n != old_job)
        emulator.drain_events()
        assert emulator.describe_execution(second)["status"] == "RUNNING"
        emulator.sagemaker.complete(new_job, metrics={"validation:accuracy": 0.9})
        desc = emulator.wait_execution(second)
    finally:
        emulator.behaviour.clock_offset = type(emulator.behaviour.clock_offset)(0)
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"])["job_name"] == new_job
