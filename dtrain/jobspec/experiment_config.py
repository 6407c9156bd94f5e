"""`experiment_config`: fit()'s argument of that name, passed to CreateTrainingJob as SDK v2 does.

SDK 2.220 (sagemaker.session._get_train_request) sends the dict unchanged as ExperimentConfig
when it is non-empty. The keys are botocore's ExperimentConfig members; each value is an
ExperimentEntityName (1-120 characters, ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,119}$), checked here so
that a typo fails in `validate`, not at CreateTrainingJob.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.naming import sanitize_name_part
from dtrain.jobspec.values import CheckedElsewhere, Name, Table

# botocore's SageMaker model, shape ExperimentConfig (all optional).
EXPERIMENT_CONFIG_KEYS = ("ExperimentName", "TrialName", "TrialComponentDisplayName", "RunName")
# botocore's ExperimentEntityName (min 1, max 120): the name rule of dtrain.jobspec.naming.
MAX_ENTITY_NAME = 120
ENTITY_NAME = Name(MAX_ENTITY_NAME)
ENTITY_NAME_RE = re.compile(ENTITY_NAME.pattern)


# The block's table: every key an ExperimentEntityName.
EXPERIMENT_CONFIG_TABLE = Table("experiment_config", {key: ENTITY_NAME for key in EXPERIMENT_CONFIG_KEYS})
_DESCRIPTION = "fit(experiment_config=...): sent as CreateTrainingJob's ExperimentConfig"


def parse_experiment_config(field: str, data: object, errors: ErrorCollector) -> dict[str, str] | None:
    """The checked mapping (key order kept), or None after adding every problem to `errors`."""
    before = len(errors.errors)
    not_object = f"must be an object with any of {', '.join(EXPERIMENT_CONFIG_KEYS)}"
    out = EXPERIMENT_CONFIG_TABLE.read(field, data, errors, not_object=not_object)
    return out if out is not None and len(errors.errors) == before else None


def experiment_config_schema() -> dict[str, Any]:
    return EXPERIMENT_CONFIG_TABLE.schema(_DESCRIPTION)


def sweep_trial_config(given: Mapping[str, str] | None, *, sweep_name: str, index: int) -> dict[str, str]:
    """A sweep item's ExperimentConfig: every trial its own run under one experiment named after
    the sweep (the spec's ExperimentName when it gives one), so SageMaker's experiment view (and
    `dtrain list --experiment`) sets the runs side by side. A TrialName/RunName the spec gives
    would put every trial in one run: the trial's own name replaces them."""
    experiment = (given or {}).get("ExperimentName") or sanitize_name_part(sweep_name)[:MAX_ENTITY_NAME]
    suffix = f"-trial-{index}"
    run = sanitize_name_part(experiment)[: MAX_ENTITY_NAME - len(suffix)].rstrip("-") + suffix
    out = {k: v for k, v in (given or {}).items() if k not in ("ExperimentName", "TrialName", "RunName")}
    return {"ExperimentName": experiment, **out, "RunName": run}


# The block as a value of another block's table (processing.run, transform): parsed above.
EXPERIMENT_CONFIG = CheckedElsewhere(
    experiment_config_schema,
    f"object of {', '.join(f'`{k}`' for k in EXPERIMENT_CONFIG_KEYS)}"
    " ([experiment_config](#experiment_config))",
)
