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
from dtrain.jobspec.estimator_args import ARGS_BY_NAME
from dtrain.jobspec.estimator_values import check_hyperparameters
from dtrain.jobspec.values import Int, Kind, Nested, OneOf, Table, Text

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


@dataclass(frozen=True)
class _Overrides(Kind):
    """One hyperparameter object per job, each checked as the estimator's hyperparameters."""

    def __call__(self, value: object) -> str | None:
        ok = isinstance(value, list) and 1 <= len(value) <= MAX_SWEEP_ENTRIES
        return None if ok else f"required: a list of 1 to {MAX_SWEEP_ENTRIES} hyperparameter objects"

    def shown(self, value: object) -> object:
        return len(value) if isinstance(value, list) and value else value

    def read(self, field: str, value: object, framework: str, errors: ErrorCollector) -> object:
        if (problem := self(value)) is not None:
            errors.add(field, self.shown(value), problem)
            return None
        assert isinstance(value, list)
        checked = [
            check_hyperparameters(f"{field}[{i}]", entry, framework, errors) for i, entry in enumerate(value)
        ]
        return tuple(checked) if all(c is not None for c in checked) else None

    def schema(self) -> dict[str, Any]:
        items = ARGS_BY_NAME["hyperparameters"].kind.schema()  # type: ignore[union-attr]
        return {"type": "array", "items": items, "minItems": 1, "maxItems": MAX_SWEEP_ENTRIES}

    def describe(self) -> str:
        return f"list of 1-{MAX_SWEEP_ENTRIES} hyperparameter objects, one job each (over the estimator's)"


OBJECTIVE_TABLE = Table(
    "sweep.objective",
    {"metric": Text(rules.MAX_METRIC_NAME), "goal": OneOf(*GOALS)},
    required=("metric",),
    defaults={"goal": "maximize"},
    notes={"metric": "the Name of one of the estimator's metric_definitions"},
)
SWEEP_TABLE = Table(
    "sweep",
    {
        "overrides": _Overrides(),
        "max_concurrency": Int(1, MAX_SWEEP_CONCURRENCY, why="Step Functions' inline Map limit"),
        "objective": Nested(OBJECTIVE_TABLE),
    },
    required=("overrides", "objective"),
    defaults={"max_concurrency": 1},
)
assert tuple(SWEEP_TABLE.args) == SWEEP_KEYS and tuple(OBJECTIVE_TABLE.args) == OBJECTIVE_KEYS


def parse_sweep(data: object, framework: str, errors: ErrorCollector) -> SweepSpec | None:
    """The typed block, or None with every problem added to `errors`."""
    before = len(errors.errors)
    got = SWEEP_TABLE.read(
        "sweep",
        data,
        errors,
        framework=framework,
        not_object="must be an object: overrides, max_concurrency, objective",
    )
    if got is None or len(errors.errors) > before:
        return None
    objective = got["objective"]
    return SweepSpec(
        overrides=got["overrides"],
        max_concurrency=got.get("max_concurrency", 1),
        objective_metric=objective["metric"],
        goal="minimize" if objective.get("goal") == "minimize" else "maximize",
    )
