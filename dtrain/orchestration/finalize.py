"""Finalize: the execution's result (one job, a failure, or a ranked sweep) and its message."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dtrain.orchestration.errors import JobStoppedWithoutModel
from dtrain.orchestration.outcome import failure_message, finalize_output, success_message
from dtrain.orchestration.sweep import FAILURE_REASON_CHARS, rank_results


def plain_cause(cause: str | None) -> str:
    """A Lambda error's Cause is its JSON error payload: keep the human sentence."""
    if not cause:
        return "no cause given"
    try:
        payload = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    if isinstance(payload, Mapping) and "errorMessage" in payload:
        return str(payload["errorMessage"])
    return cause


def finalize_job(sagemaker: Any, job_name: str, *, region: str, execution_arn: str) -> dict[str, Any]:
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    result = finalize_output(job)
    if result["status"] != "Completed" and not result["model_usable"]:
        # Answered as a success by its event (a stop at max_run), but SageMaker saved no model.
        raise JobStoppedWithoutModel(
            f"training job {job_name} was stopped at max_run (MaxRuntimeExceeded) and saved no model"
        )
    return {
        "result": result,
        "notification": success_message(result, region=region, execution_arn=execution_arn),
    }


def finalize_failure(
    error_info: Mapping[str, Any], *, region: str, execution_arn: str, execution_name: str
) -> dict[str, Any]:
    error = str(error_info.get("Error") or "States.Failed")
    cause = plain_cause(error_info.get("Cause"))
    return {
        "error": error,
        "cause": cause,
        "notification": failure_message(
            error, cause, region=region, execution_arn=execution_arn, execution_name=execution_name
        ),
    }


# Step Functions holds every sweep row in the state's input/output (256 KiB in all): a row
# carries only what ranking and the user's first look need; the job's full result goes to its
# ledger row (Ledger.record_result) and stays in SageMaker's DescribeTrainingJob.
NOTIFIED_SWEEP_ROWS = 10


def slim_item_row(full: Mapping[str, Any], *, index: int, metric: str) -> dict[str, Any]:
    value = (full.get("final_metrics") or {}).get(metric)
    return {
        "index": index,
        "job_name": full.get("job_name"),
        "status": full.get("status"),
        "objective": value,
        "model_artifact": full.get("model_artifact"),
        "model_usable": full.get("model_usable"),
    }


def sweep_item_result(
    sagemaker: Any, job_name: str, *, index: int, metric: str, ledger: Any = None
) -> dict[str, Any]:
    full = finalize_output(sagemaker.describe_training_job(TrainingJobName=job_name))
    if ledger is not None:
        ledger.record_result(job_name, full)
    return slim_item_row(full, index=index, metric=metric)


def after_sweep(plan: Mapping[str, Any], final: Mapping[str, Any]) -> dict[str, Any]:
    """RankSweep's output, the whole next state: the plan without its items (their overrides are
    in the ranked rows now) and the ranked result. Nothing after RankSweep reads the items."""
    return {"plan": {k: v for k, v in plan.items() if k != "items"}, "final": dict(final)}


def finalize_sweep(
    items: Sequence[Mapping[str, Any]],
    objective: Mapping[str, Any],
    *,
    region: str,
    execution_arn: str,
    plan_items: Sequence[Mapping[str, Any]] = (),
    ledger_rows: Sequence[Any] = (),
) -> dict[str, Any]:
    """Rank the slim rows; overrides come from the plan, names and reasons from the ledger."""
    metric = str(objective.get("metric"))
    goal = str(objective.get("goal", "maximize"))
    overrides = {int(i["index"]): i.get("overrides") or {} for i in plan_items if "index" in i}
    # Rows come oldest first; the processing step's row is no sweep item.
    latest = {r.item_index: r for r in ledger_rows if getattr(r, "kind", "training") == "training"}
    rows: list[dict[str, Any]] = []
    for item in items:
        row = dict(item)
        index = row.get("index")
        if isinstance(index, int):
            row.setdefault("overrides", overrides.get(index, {}))
            ledger_row = latest.get(index)
            if ledger_row is not None:
                row.setdefault("job_name", ledger_row.job_name)
                if row.get("status") != "Completed" and ledger_row.failure_reason:
                    row["failure_reason"] = ledger_row.failure_reason[:FAILURE_REASON_CHARS]
        rows.append(row)
    ranked = rank_results(rows, metric, goal)
    lines = [f"Sweep of {len(ranked)} jobs, best first by {metric} ({goal}):"]
    for row in ranked[:NOTIFIED_SWEEP_ROWS]:
        value = "-" if row.get("objective") is None else f"{row['objective']:g}"
        lines.append(f"{row['rank']}. {row.get('job_name', '?')} {row.get('status')} {metric}={value}")
    if len(ranked) > NOTIFIED_SWEEP_ROWS:
        lines.append(
            f"... and {len(ranked) - NOTIFIED_SWEEP_ROWS} more (dtrain list, or the execution output)"
        )
    best = ranked[0] if ranked else {}
    lines.append(
        f"Execution: https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )
    return {
        "result": {"objective": {"metric": metric, "goal": goal}, "best": best, "results": ranked},
        "notification": {
            "subject": f"dtrain: sweep of {len(ranked)} finished"[:99],
            "message": "\n".join(lines),
        },
    }
