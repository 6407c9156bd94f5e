"""Sweeps: one job per hyperparameter override, results ranked by a named metric.

Spec block (parsed here; the core spec module is given the spec without it):

    "sweep": {
      "max_concurrency": 2,
      "objective": {"metric": "validation:accuracy", "goal": "maximize"},
      "overrides": [{"lr": 0.1}, {"lr": 0.05}, {"lr": 0.01}]
    }
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dtrain.errors import SpecError, SpecErrors

MAX_SWEEP_ITEMS = 200
# A Map state in inline mode runs at most 40 iterations at once; a higher MaxConcurrency is
# silently capped by the service
# (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html), so the spec
# says so instead of promising more.
MAX_SWEEP_CONCURRENCY = 40
GOALS = ("maximize", "minimize")


@dataclass(frozen=True)
class Sweep:
    overrides: tuple[Mapping[str, Any], ...]
    max_concurrency: int
    objective_metric: str
    goal: str  # "maximize" | "minimize"

    def to_json(self) -> dict[str, Any]:
        return {
            "overrides": [dict(o) for o in self.overrides],
            "max_concurrency": self.max_concurrency,
            "objective": {"metric": self.objective_metric, "goal": self.goal},
        }


def parse_sweep(raw: object) -> Sweep:
    errors: list[SpecError] = []
    if not isinstance(raw, Mapping):
        raise SpecError("sweep", raw, "must be an object with overrides, max_concurrency, objective")
    unknown = sorted(set(raw) - {"overrides", "max_concurrency", "objective"})
    for key in unknown:
        errors.append(SpecError(f"sweep.{key}", raw[key], "unknown key"))
    overrides = raw.get("overrides")
    if not isinstance(overrides, list) or not overrides:
        errors.append(SpecError("sweep.overrides", overrides, "must be a non-empty list of objects"))
        overrides = []
    elif len(overrides) > MAX_SWEEP_ITEMS:
        errors.append(SpecError("sweep.overrides", len(overrides), f"at most {MAX_SWEEP_ITEMS} entries"))
    for i, item in enumerate(overrides):
        if not isinstance(item, Mapping):
            errors.append(SpecError(f"sweep.overrides[{i}]", item, "must be an object of hyperparameters"))
    concurrency = raw.get("max_concurrency", 1)
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_SWEEP_CONCURRENCY
    ):
        errors.append(
            SpecError(
                "sweep.max_concurrency",
                concurrency,
                f"must be an integer from 1 to {MAX_SWEEP_CONCURRENCY} (Step Functions' inline Map limit)",
            )
        )
        concurrency = 1
    objective = raw.get("objective")
    metric, goal = "", "maximize"
    if not isinstance(objective, Mapping) or not isinstance(objective.get("metric"), str):
        errors.append(
            SpecError("sweep.objective", objective, 'must be {"metric": NAME, "goal": maximize|minimize}')
        )
    else:
        metric = str(objective["metric"])
        goal = str(objective.get("goal", "maximize"))
        if goal not in GOALS:
            errors.append(SpecError("sweep.objective.goal", goal, "must be maximize or minimize"))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SpecErrors(errors)
    return Sweep(tuple(dict(o) for o in overrides), concurrency, metric, goal)


def split_sweep(spec: Mapping[str, Any]) -> tuple[dict[str, Any], Sweep | None]:
    """The spec without its sweep block, and the parsed sweep (None for a single job)."""
    base = {k: copy.deepcopy(v) for k, v in spec.items() if k != "sweep"}
    raw = spec.get("sweep")
    return base, (parse_sweep(raw) if raw is not None else None)


def apply_overrides(spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The spec of one sweep item: its hyperparameters updated with the item's overrides."""
    item = copy.deepcopy(dict(spec))
    estimator = dict(item.get("estimator") or {})
    hps = dict(estimator.get("hyperparameters") or {})
    hps.update(overrides)
    estimator["hyperparameters"] = hps
    item["estimator"] = estimator
    return item


def rank_results(results: Sequence[Mapping[str, Any]], metric: str, goal: str) -> list[dict[str, Any]]:
    """Best first by `metric`; items without the metric (failed jobs) go last, in input order."""

    def value(row: Mapping[str, Any]) -> float | None:
        # Slim rows carry their objective value; full results carry every final metric.
        v = row["objective"] if "objective" in row else (row.get("final_metrics") or {}).get(metric)
        return float(v) if isinstance(v, int | float) and not math.isnan(float(v)) else None

    scored = [dict(r) for r in results if value(r) is not None]
    unscored = [dict(r) for r in results if value(r) is None]
    scored.sort(key=lambda r: value(r) or 0.0, reverse=goal == "maximize")
    ranked = scored + unscored
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
        row["objective"] = value(row)
    return ranked
