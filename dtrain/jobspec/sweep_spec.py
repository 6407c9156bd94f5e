"""The job spec's `sweep` block: the one parser `dtrain validate`, `render` and Submit share.

    "sweep": {
      "max_concurrency": 2,
      "objective": {"metric": "validation:accuracy", "goal": "maximize"},
      "overrides": [{"lr": 0.1}, {"lr": 0.05}, {"lr": 0.01}]
    }

One job per entry of `overrides` (merged over the estimator's hyperparameters). The checks
against the estimator (the objective is one of its metrics, room for the merged
hyperparameters) are dtrain.jobspec.spec's, which calls this; the orchestration
(dtrain.orchestration.sweep) parses the whole spec, so both apply the same limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.estimator_values import check_hyperparameters

SWEEP_KEYS = ("overrides", "max_concurrency", "objective")
OBJECTIVE_KEYS = ("metric", "goal")
GOALS = ("maximize", "minimize")
MAX_SWEEP_ENTRIES = 200
# The sweep runs as an inline Map state, which runs at most 40 iterations at once; a higher
# MaxConcurrency is capped by the service ("Inline Map state", Step Functions developer guide:
# https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html), so the spec
# refuses it instead of promising more.
MAX_SWEEP_CONCURRENCY = 40


@dataclass(frozen=True)
class SweepSpec:
    """One job per entry of `overrides` (merged over the estimator's hyperparameters)."""

    overrides: tuple[Mapping[str, Any], ...]
    max_concurrency: int
    objective_metric: str
    goal: Literal["maximize", "minimize"] = "maximize"

    def to_json(self) -> dict[str, Any]:
        return {
            "overrides": [dict(o) for o in self.overrides],
            "max_concurrency": self.max_concurrency,
            "objective": {"metric": self.objective_metric, "goal": self.goal},
        }


def parse_sweep(data: object, framework: str, errors: ErrorCollector) -> SweepSpec | None:
    """The typed block, or None with every problem added to `errors`."""
    if not isinstance(data, Mapping):
        errors.add("sweep", data, "must be an object: overrides, max_concurrency, objective")
        return None
    before = len(errors.errors)
    for key in data:
        if key not in SWEEP_KEYS:
            errors.add(f"sweep.{key}", data[key], rules.unknown_key_rule(str(key), SWEEP_KEYS))
    overrides = data.get("overrides")
    checked: list[Mapping[str, Any]] = []
    if not isinstance(overrides, list) or not 1 <= len(overrides) <= MAX_SWEEP_ENTRIES:
        shown = len(overrides) if isinstance(overrides, list) and overrides else overrides
        errors.add(
            "sweep.overrides", shown, f"required: a list of 1 to {MAX_SWEEP_ENTRIES} hyperparameter objects"
        )
    else:
        for i, entry in enumerate(overrides):
            hp = check_hyperparameters(f"sweep.overrides[{i}]", entry, framework, errors)
            if hp is not None:
                checked.append(hp)
    concurrency = data.get("max_concurrency", 1)
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_SWEEP_CONCURRENCY
    ):
        huge = isinstance(concurrency, int) and concurrency.bit_length() > 64
        errors.add(
            "sweep.max_concurrency",
            "<huge integer>" if huge else concurrency,
            f"must be an integer from 1 to {MAX_SWEEP_CONCURRENCY} (Step Functions' inline Map limit)",
        )
    objective = data.get("objective")
    metric: object = None
    goal: object = "maximize"
    if not isinstance(objective, Mapping):
        errors.add(
            "sweep.objective", objective, 'required: {"metric": NAME, "goal": "maximize" | "minimize"}'
        )
    else:
        for key in objective:
            if key not in OBJECTIVE_KEYS:
                errors.add(
                    f"sweep.objective.{key}", objective[key], rules.unknown_key_rule(str(key), OBJECTIVE_KEYS)
                )
        metric = objective.get("metric")
        goal = objective.get("goal", "maximize")
        if not isinstance(metric, str) or not metric or len(metric) > rules.MAX_METRIC_NAME:
            errors.add(
                "sweep.objective.metric", metric, "required: the Name of one of the job's metric definitions"
            )
        if goal not in GOALS:
            errors.add("sweep.objective.goal", goal, "must be maximize or minimize")
    if len(errors.errors) > before:
        return None
    assert isinstance(concurrency, int) and isinstance(metric, str)
    return SweepSpec(
        overrides=tuple(checked),
        max_concurrency=concurrency,
        objective_metric=metric,
        goal="minimize" if goal == "minimize" else "maximize",
    )
