"""The experiment and trial a job's ExperimentConfig names: Submit creates them (or adopts them)
before the job, because SageMaker does not.

What AWS does with an ExperimentConfig (API reference, "ExperimentConfig",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ExperimentConfig.html):
`ExperimentName` is "the name of an existing experiment", `TrialName` "the name of an existing
trial ... If not specified, a new trial is created"; `RunName` names the run. The SDK v2
documents the same for fit() and run() (sagemaker.estimator.EstimatorBase.fit, experiment_config:
"If `ExperimentName` is supplied but `TrialName` is not a Trial will be automatically created";
"If `TrialName` is supplied and the Trial already exists the job's Trial Component will be
associated"), and its Run creates the experiment and the trial itself before any job
(sagemaker.experiments.Run: _Experiment._load_or_create, _Trial._load_or_create). A job naming
an experiment or a trial that nothing created is refused: CreateTrainingJob,
CreateProcessingJob and CreateTransformJob list ResourceNotFound ("Resource being access is
not found") among their errors. A sweep names an experiment after its execution
(dtrain.jobspec.experiment_config.sweep_trial_config), which nothing else creates.

Create-or-adopt is the SDK's _load_or_create: Create*, and a ValidationException saying
"already exists" (or a ResourceInUse) means another Submit, a sweep's sibling item or the
scientist got there first, which is what was wanted. A TrialName without an ExperimentName
names a trial that must already exist: CreateTrial needs the experiment, so nothing is created.

The table below is also what the platform grants Submit (stacks/orchestration/permissions.py,
allow_experiments) and what the emulator refuses (dtrain.emulator.lifecycle.rules).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from dtrain.requests.experiment_calls import CREATE_EXPERIMENT, experiment_entity_calls


@dataclass(frozen=True)
class ExperimentEntity:
    """An experiment entity a job's ExperimentConfig may name."""

    noun: str  # in messages: "experiment"
    name_key: str  # the ExperimentConfig key, also its Create*/Describe* name parameter
    arn_type: str  # the resource type of its ARN (Service Authorization Reference)
    create: str  # boto3 methods
    describe: str


EXPERIMENT = ExperimentEntity(
    noun="experiment",
    name_key="ExperimentName",
    arn_type="experiment",
    create="create_experiment",
    describe="describe_experiment",
)
TRIAL = ExperimentEntity(
    noun="trial",
    name_key="TrialName",
    arn_type="experiment-trial",
    create="create_trial",
    describe="describe_trial",
)
EXPERIMENT_ENTITIES = (EXPERIMENT, TRIAL)


def already_exists(err: ClientError) -> bool:
    """CreateExperiment / CreateTrial of a name in use: the SDK's _load_or_create reads a
    ValidationException whose message says "already exists"; ResourceInUse is SageMaker's code
    for a name in use elsewhere (CreateTrainingJob), accepted too."""
    error = err.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    return code == "ResourceInUse" or (code == "ValidationException" and "already exists" in message)


def _create_or_adopt(create: Callable[[], Any]) -> bool:
    """True when this call created the entity, False when it existed already."""
    try:
        create()
    except ClientError as err:
        if not already_exists(err):
            raise
        return False
    return True


def ensure_experiment_entities(sagemaker: Any, config: Mapping[str, str] | None) -> list[str]:
    """Create the experiment and the trial `config` (a request's ExperimentConfig) names, or
    adopt them; the entities this call created, as "experiment NAME" / "trial NAME". Which calls
    a config asks for: dtrain.requests.experiment_calls (what `dtrain render` lists)."""
    created = []
    for operation, params in experiment_entity_calls(config):
        entity = EXPERIMENT if operation == CREATE_EXPERIMENT else TRIAL
        if _create_or_adopt(partial(getattr(sagemaker, entity.create), **params)):
            created.append(f"{entity.noun} {params[entity.name_key]}")
    return created
