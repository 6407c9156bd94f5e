"""The CreateExperiment and CreateTrial calls a job's ExperimentConfig asks for, made before the
job because SageMaker does not create them (dtrain.orchestration.experiment_entities says why,
and makes them in the Submit Lambda, adopting an entity that exists). One place for which calls a
config asks for: Submit makes them, `dtrain render` lists them among the execution's requests.

An ExperimentName asks for CreateExperiment, and with a TrialName also CreateTrial (which needs
the experiment); a TrialName alone names a trial that must already exist: no call.
"""

from __future__ import annotations

from collections.abc import Mapping

CREATE_EXPERIMENT = "CreateExperiment"
CREATE_TRIAL = "CreateTrial"


def experiment_entity_calls(config: Mapping[str, str] | None) -> list[tuple[str, dict[str, str]]]:
    """(operation, its parameters) for each entity `config` (a request's ExperimentConfig) names."""
    experiment = (config or {}).get("ExperimentName")
    if not experiment:
        return []
    calls = [(CREATE_EXPERIMENT, {"ExperimentName": experiment})]
    trial = (config or {}).get("TrialName")
    if trial:
        calls.append((CREATE_TRIAL, {"TrialName": trial, "ExperimentName": experiment}))
    return calls
