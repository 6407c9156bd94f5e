"""`dtrain list --experiment NAME`: the runs of one SageMaker experiment, side by side.

A job belongs to an experiment when its DescribeTrainingJob answer's ExperimentConfig names it
(what the spec's `experiment_config` sent, or a sweep's per-trial config,
dtrain.jobspec.experiment_config.sweep_trial_config). Each run shows its hyperparameters (without the
SDK's own `sagemaker_*` entries) and its final metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

# Hyperparameters the SDK adds for the toolkit, not the user's choices.
_SDK_HYPERPARAMETER_PREFIX = "sagemaker_"


def _value(text: str) -> Any:
    # SDK v2 sends every hyperparameter JSON-encoded as a string ("0.1", "\"adam\"").
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def user_hyperparameters(described: Mapping[str, Any]) -> dict[str, Any]:
    """A DescribeTrainingJob answer's hyperparameters, decoded, without the SDK's own."""
    return {
        k: _value(v)
        for k, v in sorted((described.get("HyperParameters") or {}).items())
        if not k.startswith(_SDK_HYPERPARAMETER_PREFIX)
    }


def runs_table(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Runs side by side as text lines: RUN JOB STATUS, then each hyperparameter and metric."""
    params = sorted({k for run in runs for k in run.get("hyperparameters") or {}})
    metrics = sorted({k for run in runs for k in run.get("final_metrics") or {}})
    header = ["RUN", "JOB", "STATUS", *params, *metrics]
    rows = [
        [
            str(run.get("run_name") or "-"),
            str(run.get("job_name")),
            str(run.get("status")),
            *(json.dumps((run.get("hyperparameters") or {}).get(p, "-")) for p in params),
            *(
                f"{run['final_metrics'][m]:.6g}" if m in (run.get("final_metrics") or {}) else "-"
                for m in metrics
            ),
        ]
        for run in runs
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    ]


def experiment_runs(
    job_names: Iterable[str], describe: Callable[[str], dict[str, Any] | None], experiment: str
) -> list[dict[str, Any]]:
    """The training jobs of `job_names` in `experiment`, in the given order, as table rows."""
    runs: list[dict[str, Any]] = []
    for name in job_names:
        job = describe(name)
        config = (job or {}).get("ExperimentConfig") or {}
        if job is None or config.get("ExperimentName") != experiment:
            continue
        runs.append(
            {
                "job_name": name,
                "run_name": config.get("RunName") or config.get("TrialName"),
                "status": job.get("TrainingJobStatus"),
                "hyperparameters": user_hyperparameters(job),
                "final_metrics": {
                    str(m["MetricName"]): float(m["Value"])
                    for m in job.get("FinalMetricDataList") or []
                    if "MetricName" in m and "Value" in m
                },
            }
        )
    return runs
