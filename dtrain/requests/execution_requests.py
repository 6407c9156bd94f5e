"""Every request an execution of a spec makes, in the order it makes them.

    CreateProcessingJob                      (a `processing` block: once, before training)
    CreateTrainingJob                        (one per sweep entry, else one)
    CreateModel, CreateEndpointConfig, CreateEndpoint   (a `deploy` block)
    CreateModel, CreateTransformJob                      (a `transform` block)

and before the first job whose ExperimentConfig names them, CreateExperiment and CreateTrial
(once each: Submit creates what SageMaker does not, dtrain.requests.experiment_calls).

`dtrain render` prints them, `dtrain validate` and `submit` build them and check the S3 reach
of each against the execution role (dtrain.jobspec.s3_reach): every one of these jobs and models runs
as that role. The names are the ones the builders derive without an execution (the state
machine derives its own per execution; the shapes are the same). A sweep hosts its best trial,
which is known only after every trial ended: its hosting requests are shown for the first item.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dtrain.jobspec.errors import SpecError, SpecErrors
from dtrain.jobspec.naming import job_name_for
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.s3_reach import reach_problems
from dtrain.jobspec.spec import JobSpec, sweep_entries
from dtrain.requests.experiment_calls import experiment_entity_calls
from dtrain.requests.inference_request import inference_requests
from dtrain.requests.platform_grants import grant_problems
from dtrain.requests.processing_request import build_processing_job_request
from dtrain.requests.team_guardrails import guardrail_problems
from dtrain.requests.training_request import build_training_job_request

PROCESSING = "CreateProcessingJob"
TRAINING = "CreateTrainingJob"


@dataclass(frozen=True)
class PlannedRequest:
    """One request: its SageMaker operation, a label unique within the execution, its kwargs."""

    operation: str
    label: str
    request: dict[str, Any]


def execution_requests(
    spec: JobSpec,
    platform: PlatformSettings | None,
    *,
    job_name: str | None = None,
    region: str | None = None,
) -> list[PlannedRequest]:
    """The requests in execution order; SpecError / SpecErrors for the first request that fails."""

    out: list[PlannedRequest] = []
    if spec.processing is not None:
        out.append(PlannedRequest(PROCESSING, PROCESSING, build_processing_job_request(spec, platform)))
    if spec.sweep is None:
        request = build_training_job_request(spec, platform, job_name=job_name, region=region)
        out.append(PlannedRequest(TRAINING, TRAINING, request))
    else:
        for index, entry in enumerate(sweep_entries(spec)):
            name = job_name_for(job_name, execution_name=str(index)) if job_name else None
            request = build_training_job_request(entry, platform, job_name=name, region=region)
            out.append(PlannedRequest(TRAINING, f"{TRAINING} (sweep item {index})", request))
    first_training = next(r.request for r in out if r.operation == TRAINING)
    out.extend(_hosting_requests(spec, platform, first_training, is_sweep=spec.sweep is not None))
    return _with_experiment_entities(out)


def _with_experiment_entities(requests: list[PlannedRequest]) -> list[PlannedRequest]:
    """The requests with each CreateExperiment / CreateTrial a job's ExperimentConfig asks for
    placed before the first job naming it (a sweep's items share the experiment: one call)."""
    out: list[PlannedRequest] = []
    made: set[tuple[str, str]] = set()
    for planned in requests:
        for operation, params in experiment_entity_calls(planned.request.get("ExperimentConfig")):
            name = params.get("TrialName") or params["ExperimentName"]
            if (operation, name) not in made:
                made.add((operation, name))
                out.append(PlannedRequest(operation, f"{operation} ({name})", dict(params)))
        out.append(planned)
    return out


def _hosting_requests(
    spec: JobSpec, platform: PlatformSettings | None, training: dict[str, Any], *, is_sweep: bool
) -> list[PlannedRequest]:
    if spec.deploy is None and spec.transform is None:
        return []

    region = json.loads(training["HyperParameters"]["sagemaker_region"])
    built = inference_requests(spec, platform, training_job_name=training["TrainingJobName"], region=region)
    note = " (the best sweep item's; shown for item 0)" if is_sweep else ""
    return [
        PlannedRequest(label.split(" ", 1)[0], f"{label}{note}", request) for label, request in built.items()
    ]


def check_against_platform(spec: JobSpec, requests: list[PlannedRequest], platform: PlatformSettings) -> None:
    """What real platform settings refuse of an execution, every problem at once: a role the
    platform may not pass or an image its role may not pull (dtrain.requests.platform_grants), an S3
    location of any request that its execution role cannot reach (dtrain.jobspec.s3_reach), and
    a request past the team's guardrails (dtrain.requests.team_guardrails)."""

    problems: list[SpecError] = list(grant_problems(spec, platform))
    problems += guardrail_problems([(r.operation, r.label, r.request) for r in requests], platform)
    seen: set[str] = set()
    for planned in requests:
        for problem in reach_problems(planned.request, platform, planned.operation):
            if str(problem) not in seen:  # sweep items share their channels: one line each
                seen.add(str(problem))
                problems.append(problem)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecErrors(problems)
