"""Finalize: the execution's result (one job, a failure, or a ranked sweep) and its message."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dtrain.orchestration.outcome import failure_message, finalize_output, success_message
from dtrain.orchestration.sweep import rank_results


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


def sweep_item_result(sagemaker: Any, job_name: str) -> dict[str, Any]:
    return finalize_output(sagemaker.describe_training_job(TrainingJobName=job_name))


def finalize_sweep(
    items: Sequence[Mapping[str, Any]], objective: Mapping[str, Any], *, region: str, execution_arn: str
) -> dict[str, Any]:
    metric = str(objective.get("metric"))
    goal = str(objective.get("goal", "maximize"))
    ranked = rank_results(items, metric, goal)
    lines = [f"Sweep of {len(ranked)} jobs, best first by {metric} ({goal}):"]
    for row in ranked:
        value = "-" if row.get("objective") is None else f"{row['objective']:g}"
        lines.append(f"{row['rank']}. {row.get('job_name', '?')} {row.get('status')} {metric}={value}")
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
