"""JSON Schema (draft 2020-12) of the job spec, for editors and CI.

Assembled from the argument tables the parser reads (dtrain.jobspec.spec.TOP_LEVEL and the
tables of each block), so the schema and `dtrain validate` read one rule each. Cross-field
rules are `dtrain validate`'s, in code beside the blocks (dtrain.jobspec.estimator_rules,
spec.py's _check_* functions, inference_spec.check_against_estimator, distribution's one
strategy); the few a schema can say are generated beside them (estimator_rules.
INSTANCE_SHAPE_SCHEMA, distribution.ONE_STRATEGY_SCHEMA, inference_spec.deploy_schema).
"""

from __future__ import annotations

from typing import Any

from dtrain.jobspec.spec import TOP_LEVEL


def job_spec_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://dtrain.invalid/job-spec.schema.json",
        "title": "dtrain job spec",
        **TOP_LEVEL.schema("SageMaker SDK v2 estimator arguments + fit() inputs; see docs/jobspec.md"),
    }
