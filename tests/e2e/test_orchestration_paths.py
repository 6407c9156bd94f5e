"""The real state machine, Lambdas and event rules, deployed into the emulator, on every path."""

from __future__ import annotations

import json
from typing import Any

from dtrain.emulator import Emulator, Fault


def _lambda_tasks(history: list[dict[str, Any]]) -> int:
    return sum(
        e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "lambda"
        for e in history
    )


def _output(desc: dict[str, Any]) -> dict[str, Any]:
    return json.loads(desc["output"])


def test_success_returns_finalize_output_and_notifies(
    emulator: Emulator, make_spec: Any, read_notifications: Any, count_transitions: Any
) -> None:
    read_notifications(emulator)
    arn = emulator.start_execution(make_spec(use_spot_instances=True, max_wait=7200))
    (job,) = emulator.jobs_of(arn)
    emulator.sagemaker.complete(
        job,
        metrics={"validation:accuracy": 0.91, "train:loss": 0.3},
        training_seconds=1000,
        billable_seconds=400,
        interruptions=1,
    )
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "SUCCEEDED"
    out = _output(desc)
    assert out["job_name"] == job and out["status"] == "Completed"
    assert out["model_artifact"].endswith(f"/jobs/{job}/output/model.tar.gz")
    assert out["final_metrics"] == {"validation:accuracy": 0.91, "train:loss": 0.3}
    assert (out["training_seconds"], out["billable_seconds"], out["spot_savings_percent"]) == (
        1000,
        400,
        60.0,
    )
    assert "Interrupted" in [t["status"] for t in out["secondary_status_transitions"]]
    assert count_transitions(emulator.history(arn)) <= 8
    sent = emulator.sagemaker.job(job).request  # what Submit sent, as a local backend will run it
    assert sent["TrainingJobName"] == job and sent["EnableManagedSpotTraining"] is True
    assert any(
        m["Name"] == "validation:accuracy" for m in sent["AlgorithmSpecification"]["MetricDefinitions"]
    )
    (note,) = read_notifications(emulator)
    assert job in note["Subject"] and "console.aws.amazon.com/states" in note["Message"]
    row = emulator.ledger().get(job)
    assert (
        row is not None and row.token_state == "CLOSED" and row.status == "Completed" and not row.task_token
    )


def test_failed_job_fails_the_execution_with_sagemakers_reason(
    emulator: Emulator, make_spec: Any, read_notifications: Any
) -> None:
    read_notifications(emulator)
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    emulator.sagemaker.fail(job, "AlgorithmError: CUDA out of memory in rank 3")
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "SageMaker.TrainingJobFailed"
    assert desc["cause"] == "AlgorithmError: CUDA out of memory in rank 3"
    notes = read_notifications(emulator)
    assert len(notes) == 1 and "CUDA out of memory" in notes[0]["Message"]


def test_spec_error_fails_fast_without_a_job(emulator: Emulator, make_spec: Any) -> None:
    before = len(emulator.sagemaker.jobs)
    arn = emulator.start_execution(make_spec(use_spot_instances=True, max_run=3600, max_wait=1800))
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] in ("SpecError", "SpecErrors")
    assert "estimator.max_wait" in desc["cause"]
    assert len(emulator.sagemaker.jobs) == before
    assert emulator.ledger().find_by_execution(arn) == []
    prepares = [i for i in emulator.runtime.invocations if i.error in ("SpecError", "SpecErrors")]
    assert len(prepares) == 1  # no retries of a spec error


def test_submit_retried_after_creating_the_job_creates_exactly_one(
    emulator: Emulator, make_spec: Any
) -> None:
    emulator.inject_fault(
        Fault(
            "SubmitJob",
            "Sandbox.Timedout",
            "Task timed out after 120.00 seconds",
            when=lambda e: e.get("phase") == "submit",
        )
    )
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    # The retry adopts the job: wait until the row holds the retry's token.
    history = []
    for _ in range(200):
        history = emulator.history(arn)
        if sum(e["type"] == "TaskScheduled" for e in history) >= 2:
            break
        emulator.drain_events()
    emulator.sagemaker.complete(job, metrics={"validation:accuracy": 0.5})
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "SUCCEEDED"
    assert [r.job_name for r in emulator.ledger().find_by_execution(arn)] == [job]
    assert len([n for n in emulator.sagemaker.jobs if n == job]) == 1
    assert _lambda_tasks(emulator.history(arn)) == 2


def test_duplicate_event_is_harmless(emulator: Emulator, make_spec: Any) -> None:
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    emulator.sagemaker.complete(job)
    assert emulator.wait_execution(arn)["status"] == "SUCCEEDED"
    seen = len(emulator.runtime.invocations)
    emulator.sagemaker.job(job).emit_state_change()
    emulator.drain_events()
    extra = [i for i in emulator.runtime.invocations[seen:] if "JobEvents" in i.function_name]
    assert len(extra) == 1 and extra[0].error is None
    assert extra[0].result["result"] == "ignored: token already closed"


def test_lost_event_is_closed_by_reconcile(emulator: Emulator, make_spec: Any) -> None:
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    # Let Submit finish (its own check would otherwise see the terminal job).
    for _ in range(200):
        row = emulator.ledger().get(job)
        if row and row.status == "InProgress":
            break
        emulator.drain_events()
    emulator.sagemaker.complete(job, emit=False)
    emulator.drain_events()
    assert emulator.describe_execution(arn)["status"] == "RUNNING"
    report = emulator.reconcile()
    assert job in report["answered"]
    assert emulator.wait_execution(arn)["status"] == "SUCCEEDED"


def test_a_lost_job_event_is_closed_by_the_scheduled_reconcile(emulator: Emulator, make_spec: Any) -> None:
    """Nobody calls Reconcile: the stack's ReconcileSchedule rule (rate(5 minutes)), run by the
    emulator's EventBridge at 1/500 of its rate, answers the token the lost Completed event left."""
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    for _ in range(200):  # Submit done (its own check would otherwise see the terminal job)
        row = emulator.ledger().get(job)
        if row and row.status == "InProgress":
            break
        emulator.drain_events()
    emulator.behaviour.lose_job_events(1)
    emulator.sagemaker.complete(job)  # its state-change event is put on the bus, and lost
    emulator.drain_events()
    assert [e["TrainingJobName"] for e in emulator.behaviour.lost_job_events[-1:]] == [job]
    assert emulator.describe_execution(arn)["status"] == "RUNNING"
    fired_before = len(emulator.schedules.fired)
    emulator.schedules.scale = 0.002  # rate(5 minutes) every 0.6 s
    try:
        assert emulator.wait_execution(arn, timeout=60)["status"] == "SUCCEEDED"
    finally:
        emulator.schedules.scale = None
    assert any("ReconcileSchedule" in name for name in emulator.schedules.fired[fired_before:])
    row = emulator.ledger().get(job)
    assert row is not None and row.token_state == "CLOSED" and row.status == "Completed"


def test_abort_stops_the_training_job(emulator: Emulator, make_spec: Any) -> None:
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    emulator.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="changed my mind")
    assert emulator.wait_execution(arn)["status"] == "ABORTED"
    emulator.drain_events()
    assert emulator.sagemaker.job(job).status == "Stopped"
    row = emulator.ledger().get(job)
    assert row is not None and row.token_state == "CLOSED"


def test_sweep_of_three_runs_at_most_two_at_once_and_ranks_results(
    emulator: Emulator, make_spec: Any
) -> None:
    spec = make_spec()
    spec["sweep"] = {
        "max_concurrency": 2,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [{"lr": 0.1}, {"lr": 0.05}, {"lr": 0.01}],
    }
    arn = emulator.start_execution(spec)
    first = emulator.jobs_of(arn, count=2)
    emulator.drain_events()
    assert len(emulator.ledger().find_by_execution(arn)) == 2  # the third waits for a slot
    accuracy = {first[0]: 0.7, first[1]: 0.9}
    emulator.sagemaker.complete(first[0], metrics={"validation:accuracy": accuracy[first[0]]})
    third = next(n for n in emulator.jobs_of(arn, count=3) if n not in first)
    emulator.sagemaker.complete(first[1], metrics={"validation:accuracy": accuracy[first[1]]})
    emulator.sagemaker.complete(third, metrics={"validation:accuracy": 0.8})
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "SUCCEEDED"
    results = _output(desc)["results"]
    assert [r["objective"] for r in results] == [0.9, 0.8, 0.7]
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert {json.dumps(r["overrides"]) for r in results} == {'{"lr": 0.1}', '{"lr": 0.05}', '{"lr": 0.01}'}


def test_a_spec_naming_a_new_experiment_and_trial_runs_under_the_platforms_own_iam(
    emulator: Emulator, make_spec: Any
) -> None:
    """fit(experiment_config=...) naming an experiment and a trial nobody created: SageMaker
    refuses such a job (ResourceNotFound), so Submit creates both first, with the grants the
    platform gives it (CreateExperiment, CreateTrial), then the job runs."""
    assert emulator.enforce
    spec = make_spec()
    spec["experiment_config"] = {"ExperimentName": "e2e-new-experiment", "TrialName": "e2e-trial-1"}
    arn = emulator.start_execution(spec)
    (job,) = emulator.jobs_of(arn)
    emulator.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
    assert emulator.wait_execution(arn)["status"] == "SUCCEEDED"
    sm = emulator.client("sagemaker")
    assert sm.describe_trial(TrialName="e2e-trial-1")["ExperimentName"] == "e2e-new-experiment"
    assert emulator.sagemaker.job(job).request["ExperimentConfig"] == spec["experiment_config"]


def test_the_functions_log_to_their_own_log_groups_not_to_the_callers_screen(
    emulator: Emulator, make_spec: Any, capfd: Any
) -> None:
    """Lambda sends a function's stdout to the log group its LoggingConfig names; the emulator
    runs the handlers inside the caller's process and must do the same (make demo's screen)."""
    capfd.readouterr()
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    emulator.sagemaker.complete(job, metrics={"validation:accuracy": 0.5})
    assert emulator.wait_execution(arn)["status"] == "SUCCEEDED"
    shown = capfd.readouterr()
    assert '"level":"INFO"' not in shown.out + shown.err and "CloudWatchMetrics" not in shown.out + shown.err

    cfn = emulator.client("cloudformation")
    resources = cfn.list_stack_resources(StackName=emulator.orchestration_stack)["StackResourceSummaries"]
    stack_groups = {r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Logs::LogGroup"}
    logs = emulator.client("logs")
    found: dict[str, list[dict[str, Any]]] = {}
    for group in logs.describe_log_groups()["logGroups"]:
        for event in logs.filter_log_events(logGroupName=group["logGroupName"])["events"]:
            if event["message"].startswith("{"):
                found.setdefault(group["logGroupName"], []).append(json.loads(event["message"]))
    submitted = [
        (group, record)
        for group, records in found.items()
        for record in records
        if record.get("message") == "job submitted" and record.get("job_name") == job
    ]
    assert len(submitted) == 1, found.keys()
    group, record = submitted[0]
    assert group in stack_groups  # the stack's own group (LoggingConfig), not /aws/lambda/<name>
    assert record["service"] == "submit_job"
    # The EMF blob of the same invocation went with it: CloudWatch extracts metrics from there.
    assert any("Submissions" in r for r in found[group])
