"""The processing step through the deployed state machine, Lambdas and event rules (IAM enforced):
a processing job before training, answered by its own state-change event, on every path."""

from __future__ import annotations

import json
from typing import Any

from dtrain.emulator import Emulator
from dtrain.emulator.processing_backend import ProcessingControl

CODE = "s3://emu-data/code/preprocess_cifar10.py"


def processing_spec(make_spec: Any, **estimator: Any) -> dict[str, Any]:
    spec: dict[str, Any] = make_spec(**estimator)
    spec["processing"] = {
        "processor": {
            "image_uri": "ddp",
            "command": ["python3"],
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
            "max_runtime_in_seconds": 1800,
            "base_job_name": "cifar10-prep",
        },
        "run": {
            "code": CODE,
            "inputs": [
                {
                    "source": "s3://emu-data/cifar10/raw",
                    "destination": "/opt/ml/processing/input/raw",
                    "input_name": "raw",
                }
            ],
            "outputs": [
                {"source": "/opt/ml/processing/output/train", "output_name": "train"},
                {"source": "/opt/ml/processing/output/test", "output_name": "test"},
            ],
        },
    }
    spec["inputs"] = {"train": {"processing_output": "train"}, "test": {"processing_output": "test"}}
    return spec


def _first_processing_job(emu: Emulator, arn: str) -> str:
    (job,) = emu.jobs_of(arn)
    assert isinstance(emu.sagemaker.job(job), ProcessingControl)
    return job


def _channels(request: dict[str, Any]) -> dict[str, str]:
    return {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}


def test_processing_runs_first_and_training_reads_its_outputs(
    emulator: Emulator, make_spec: Any, count_transitions: Any
) -> None:
    arn = emulator.start_execution(processing_spec(make_spec))
    proc = _first_processing_job(emulator, arn)
    sent = emulator.sagemaker.job(proc).request
    assert sent["ProcessingJobName"] == proc and proc.startswith("dtrain-cifar10-prep-")
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in sent["ProcessingOutputConfig"]["Outputs"]}
    # Under the platform's output prefix (the execution role writes only there), per job.
    assert all(uri.endswith(f"/jobs/{proc}/output/{name}") for name, uri in outputs.items())
    assert (
        emulator.client("sagemaker").describe_processing_job(ProcessingJobName=proc)["ProcessingJobStatus"]
        == "InProgress"
    )
    emulator.drain_events()
    assert len(emulator.ledger().find_by_execution(arn)) == 1  # training waits for processing

    emulator.sagemaker.complete(proc)
    jobs = emulator.jobs_of(arn, count=2)
    (train,) = [j for j in jobs if j != proc]
    assert _channels(emulator.sagemaker.job(train).request) == outputs
    emulator.sagemaker.complete(train, metrics={"validation:accuracy": 0.8})
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert json.loads(desc["output"])["job_name"] == train
    rows = {r.job_name: r for r in emulator.ledger().find_by_execution(arn)}
    assert rows[proc].kind == "processing" and rows[proc].status == "Completed"
    assert json.loads(rows[proc].spec_summary)["instance_type"] == "ml.m5.xlarge"  # the processor's
    assert rows[train].kind == "training" and rows[train].token_state == "CLOSED"
    # Prepare, IsSweep, Process, IsSweepAfterProcessing, Submit, Finalize, HostsModel (the
    # choice after training: no deploy/transform here), Notify, Succeeded: however long either
    # job runs.
    assert count_transitions(emulator.history(arn)) == 9


def test_a_spec_without_processing_pays_no_extra_transition(
    emulator: Emulator, make_spec: Any, count_transitions: Any
) -> None:
    arn = emulator.start_execution(make_spec())
    (job,) = emulator.jobs_of(arn)
    emulator.sagemaker.complete(job)
    assert emulator.wait_execution(arn)["status"] == "SUCCEEDED"
    # Prepare, IsSweep, Submit, Finalize, HostsModel, Notify, Succeeded: as without processing.
    assert count_transitions(emulator.history(arn)) == 7


def test_failed_processing_fails_the_execution_with_its_reason_and_trains_nothing(
    emulator: Emulator, make_spec: Any, read_notifications: Any
) -> None:
    read_notifications(emulator)
    arn = emulator.start_execution(processing_spec(make_spec))
    proc = _first_processing_job(emulator, arn)
    emulator.sagemaker.fail(proc, "AlgorithmError: no data_batch_* under /opt/ml/processing/input/raw")
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "SageMaker.ProcessingJobFailed"
    assert desc["cause"] == "AlgorithmError: no data_batch_* under /opt/ml/processing/input/raw"
    (note,) = read_notifications(emulator)
    assert "no data_batch_*" in note["Message"]
    assert [r.job_name for r in emulator.ledger().find_by_execution(arn)] == [proc]


def test_abort_during_processing_stops_the_processing_job(emulator: Emulator, make_spec: Any) -> None:
    arn = emulator.start_execution(processing_spec(make_spec))
    proc = _first_processing_job(emulator, arn)
    emulator.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="changed my mind")
    assert emulator.wait_execution(arn)["status"] == "ABORTED"
    emulator.drain_events()
    assert emulator.sagemaker.job(proc).status == "Stopped"
    row = emulator.ledger().get(proc)
    assert row is not None and row.token_state == "CLOSED"


def test_lost_processing_event_is_answered_by_reconcile(emulator: Emulator, make_spec: Any) -> None:
    arn = emulator.start_execution(processing_spec(make_spec))
    proc = _first_processing_job(emulator, arn)
    for _ in range(200):  # let Submit finish (its own check would otherwise see the end)
        row = emulator.ledger().get(proc)
        if row and row.status == "InProgress":
            break
        emulator.drain_events()
    emulator.sagemaker.complete(proc, emit=False)
    emulator.drain_events()
    report = emulator.reconcile()
    assert proc in report["answered"]
    train = next(j for j in emulator.jobs_of(arn, count=2) if j != proc)
    emulator.sagemaker.complete(train)
    assert emulator.wait_execution(arn)["status"] == "SUCCEEDED"


def test_a_sweep_runs_processing_once_then_every_item_reads_its_outputs(
    emulator: Emulator, make_spec: Any
) -> None:
    spec = processing_spec(make_spec)
    spec["sweep"] = {
        "max_concurrency": 2,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [{"lr": 0.1}, {"lr": 0.05}],
    }
    arn = emulator.start_execution(spec)
    proc = _first_processing_job(emulator, arn)
    emulator.sagemaker.complete(proc)
    items = [j for j in emulator.jobs_of(arn, count=3) if j != proc]
    channels = [_channels(emulator.sagemaker.job(j).request) for j in items]
    assert channels[0] == channels[1] and proc in channels[0]["train"]
    # Each trial its own run under one experiment named after the sweep (its execution).
    execution = arn.rsplit(":", 1)[-1]
    configs = sorted(
        (emulator.sagemaker.job(j).request["ExperimentConfig"] for j in items), key=lambda c: c["RunName"]
    )
    assert configs == [{"ExperimentName": execution, "RunName": f"{execution}-trial-{i}"} for i in range(2)]
    for value, job in zip((0.7, 0.9), items, strict=True):
        emulator.sagemaker.complete(job, metrics={"validation:accuracy": value})
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "SUCCEEDED"
    results = json.loads(desc["output"])["results"]
    assert [r["objective"] for r in results] == [0.9, 0.7]
    assert {r["job_name"] for r in results} == set(items)  # the processing row is no sweep item
    kinds = [r.kind for r in emulator.ledger().find_by_execution(arn)]
    assert kinds.count("processing") == 1 and kinds.count("training") == 2
    # `dtrain list --experiment`: the trials side by side, hyperparameters and final metrics.
    from dtrain.remote.experiments import experiment_runs

    sm = emulator.client("sagemaker")
    names = [r.job_name for r in emulator.ledger().find_by_execution(arn) if r.kind == "training"]
    runs = experiment_runs(names, lambda n: sm.describe_training_job(TrainingJobName=n), execution)
    assert {(r["run_name"], r["hyperparameters"]["lr"]) for r in runs} == {
        (f"{execution}-trial-0", 0.1),
        (f"{execution}-trial-1", 0.05),
    }
    assert {r["job_name"]: r["final_metrics"]["validation:accuracy"] for r in runs} == dict(
        zip(items, (0.7, 0.9), strict=True)
    )


def test_a_local_code_file_is_refused_on_the_platform(emulator: Emulator, make_spec: Any) -> None:
    spec = processing_spec(make_spec)
    spec["processing"]["run"]["code"] = "preprocess.py"
    arn = emulator.start_execution(spec)
    desc = emulator.wait_execution(arn)
    assert desc["status"] == "FAILED" and desc["error"] in ("SpecError", "SpecErrors")
    assert "processing.run.code" in desc["cause"] and "dtrain submit" in desc["cause"]


def test_a_process_retried_after_creating_the_job_adopts_it(emulator: Emulator, make_spec: Any) -> None:
    from dtrain.emulator import Fault

    emulator.inject_fault(
        Fault(
            "SubmitJob",
            "Sandbox.Timedout",
            "Task timed out after 120.00 seconds",
            when=lambda e: e.get("phase") == "process",
        )
    )
    arn = emulator.start_execution(processing_spec(make_spec))
    proc = _first_processing_job(emulator, arn)
    for _ in range(200):  # the retry adopts the job: wait until it has run
        if sum(e["type"] == "TaskScheduled" for e in emulator.history(arn)) >= 2:
            break
        emulator.drain_events()
    emulator.sagemaker.complete(proc)
    train = next(j for j in emulator.jobs_of(arn, count=2) if j != proc)
    emulator.sagemaker.complete(train)
    assert emulator.wait_execution(arn)["status"] == "SUCCEEDED"
    rows = emulator.ledger().find_by_execution(arn)
    assert [r.kind for r in rows].count("processing") == 1  # one processing job, adopted
    assert len([n for n in emulator.sagemaker.created_order if n == proc]) == 1
    processes = [
        i
        for i in emulator.runtime.invocations
        if i.event.get("phase") == "process" and i.event.get("execution_arn") == arn
    ]
    assert [i.error for i in processes] == ["Sandbox.Timedout", None]  # the retry adopted the job
