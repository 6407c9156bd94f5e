"""Sweeps at run time: one job per hyperparameter override, results ranked by a named metric.

The block is parsed by dtrain.jobspec.sweep_spec, the one parser `dtrain validate` uses too (through
dtrain.jobspec.spec.parse_spec, which also checks it against the estimator); this module splits a
parsed spec into its items and ranks their results.

The spec core and the requests (dtrain.jobspec.spec, dtrain.requests) are imported inside the
functions that build from them, on purpose: they cost about 0.2 s of a cold start (python -X
importtime under the Lambda Python), which the Finalize Lambda (it imports this
module's ranking) never pays.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from dtrain.jobspec.sweep_spec import MAX_SWEEP_CONCURRENCY, MAX_SWEEP_ENTRIES, SweepSpec

# A sweep row's failure reason is cut to this (dtrain.orchestration.finalize; the state budget,
# dtrain.orchestration.state_budget, counts every row's at this length).
FAILURE_REASON_CHARS = 200

MAX_SWEEP_ITEMS = MAX_SWEEP_ENTRIES
__all__ = ["MAX_SWEEP_CONCURRENCY", "MAX_SWEEP_ITEMS", "apply_overrides", "rank_results", "split_sweep"]


def split_sweep(spec: Mapping[str, Any]) -> tuple[dict[str, Any], SweepSpec | None]:
    """The spec without its sweep block, and the parsed sweep (None for a single job).

    A sweep is parsed with the whole spec (dtrain.jobspec.spec.parse_spec): the same parser and the
    same checks against the estimator as `dtrain validate`. Raises SpecError / SpecErrors.
    """
    base = {k: copy.deepcopy(v) for k, v in spec.items() if k != "sweep"}
    if spec.get("sweep") is None:
        return base, None
    from dtrain.jobspec.spec import parse_spec

    return base, parse_spec(spec).sweep


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
