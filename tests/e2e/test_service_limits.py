"""What AWS enforces and moto does not, shown in the emulator (dtrain.emulator.service_behaviour)."""

from __future__ import annotations

import json
from typing import Any

from dtrain.emulator import Emulator
from dtrain.emulator.service_behaviour import MAX_STATE_PAYLOAD_BYTES
from dtrain.orchestration.sweep import MAX_SWEEP_ITEMS


def _sweep(make_spec: Any, items: int) -> dict[str, Any]:
    spec = make_spec()
    spec["sweep"] = {
        "max_concurrency": items,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [{"lr": round(0.001 * (i + 1), 6)} for i in range(items)],
    }
    return spec


def test_a_state_over_the_payload_limit_fails_the_execution_uncaught(
    emulator: Emulator, make_spec: Any, read_notifications: Any
) -> None:
    read_notifications(emulator)
    meter = emulator.behaviour.payloads
    meter.limit_bytes = 3000  # a job's Finalize output (transitions, metrics) is larger
    try:
        arn = emulator.start_execution(make_spec())
        (job,) = emulator.jobs_of(arn)
        emulator.sagemaker.complete(job, metrics={"validation:accuracy": 0.9}, interruptions=3)
        desc = emulator.wait_execution(arn)
    finally:
        meter.limit_bytes = MAX_STATE_PAYLOAD_BYTES
    assert desc["status"] == "FAILED" and desc["error"] == "States.DataLimitExceeded"
    assert read_notifications(emulator) == []  # no Catch, not even States.ALL, runs


def test_a_sweep_stays_under_the_payload_limit_per_item(emulator: Emulator, make_spec: Any) -> None:
    """Issue 19 item 1, scaled: 20 items held to 20/200 of 256 KiB. Full rows (about 2.4 KB
    each, kept twice) passed it; slim rows (name, status, objective, model URI) stay under."""
    items = 20
    meter = emulator.behaviour.payloads
    meter.reset()
    meter.limit_bytes = MAX_STATE_PAYLOAD_BYTES * items // MAX_SWEEP_ITEMS
    try:
        arn = emulator.start_execution(_sweep(make_spec, items))
        jobs = emulator.jobs_of(arn, count=items)
        for i, job in enumerate(jobs):
            if i == 0:
                emulator.sagemaker.fail(job, "AlgorithmError: diverged", interruptions=2)
            else:
                emulator.sagemaker.complete(job, metrics={"validation:accuracy": i / 100}, interruptions=2)
        desc = emulator.wait_execution(arn)
    finally:
        meter.limit_bytes = MAX_STATE_PAYLOAD_BYTES
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    out = json.loads(desc["output"])
    assert out["best"]["objective"] == (items - 1) / 100 and out["best"]["model_artifact"]
    failed = out["results"][-1]
    assert failed["status"] == "Failed" and failed["failure_reason"] == "AlgorithmError: diverged"
    assert failed["job_name"] == jobs[0]
    assert failed["overrides"] == {"lr": round(0.001 * (failed["index"] + 1), 6)}
    # The full result is in the ledger.
    row = emulator.ledger()._ddb.get_item(
        TableName=emulator.output("LedgerTableName"), Key={"job_name": {"S": jobs[1]}}
    )["Item"]
    assert json.loads(row["result"]["S"])["secondary_status_transitions"]


def test_a_sweep_of_thirteen_hyperparameters_carries_its_overrides_once(
    emulator: Emulator, make_spec: Any
) -> None:
    """Issue 26 finding 7, scaled like the test above: 20 items of 13 numeric hyperparameters
    held to 20/200 of 256 KiB. The execution input, the plan and the ranked rows each carried
    every override (three copies, past the limit); now Prepare drops the input and RankSweep the
    plan's items, so the largest state holds them once."""
    items = 20
    spec = make_spec()
    spec["sweep"] = {
        "max_concurrency": items,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [
            {f"hp_{k:02d}": round(0.000123456789 * (i + k + 1), 12) for k in range(13)} for i in range(items)
        ],
    }
    meter = emulator.behaviour.payloads
    meter.reset()
    meter.limit_bytes = MAX_STATE_PAYLOAD_BYTES * items // MAX_SWEEP_ITEMS
    try:
        arn = emulator.start_execution(spec)
        for i, job in enumerate(emulator.jobs_of(arn, count=items)):
            emulator.sagemaker.complete(job, metrics={"validation:accuracy": i / 100})
        desc = emulator.wait_execution(arn)
    finally:
        meter.limit_bytes = MAX_STATE_PAYLOAD_BYTES
    assert desc["status"] == "SUCCEEDED", desc.get("cause") or desc.get("error")
    assert meter.exceeded == [] and meter.largest_bytes < MAX_STATE_PAYLOAD_BYTES * items // MAX_SWEEP_ITEMS
    out = json.loads(desc["output"])
    assert len(out["results"]) == items and all(len(r["overrides"]) == 13 for r in out["results"])
