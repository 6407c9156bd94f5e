"""Which SageMaker operation AWS refuses in which state of its resource, and how it words it.

One row per (operation, states): the error code and message SageMaker answers, and where that
answer is written down. Two pseudo-states cover names: EXISTS (any resource already holds the
name; models and endpoint configs have no status of their own) and MISSING (none does).
The gate (dtrain.emulator.lifecycle.gate) looks a request's resource up in moto's backend and
answers the first matching row before moto sees the call; `fidelity_table()` prints the rows
for the closing note (benchmarks/lifecycle_fidelity.py).

Where a message could only be confirmed for one kind of job (StopTrainingJob's wording), the
other kinds reuse its shape and their row's source says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from dtrain.orchestration import job_kinds
from dtrain.orchestration.experiment_entities import EXPERIMENT as EXPERIMENT_ENTITY
from dtrain.orchestration.experiment_entities import EXPERIMENT_ENTITIES
from dtrain.orchestration.experiment_entities import TRIAL as TRIAL_ENTITY
from dtrain.orchestration.job_kinds import SAGEMAKER_RESOURCES

EXISTS: Final = "(exists)"
MISSING: Final = "(missing)"

# The resources by their ARN type (the table of SageMaker resources, dtrain.orchestration.job_kinds).
TRAINING_JOB: Final = SAGEMAKER_RESOURCES[job_kinds.TRAINING].arn_type
PROCESSING_JOB: Final = SAGEMAKER_RESOURCES[job_kinds.PROCESSING].arn_type
TRANSFORM_JOB: Final = SAGEMAKER_RESOURCES[job_kinds.TRANSFORM].arn_type
MODEL: Final = SAGEMAKER_RESOURCES[job_kinds.MODEL].arn_type
ENDPOINT_CONFIG: Final = SAGEMAKER_RESOURCES[job_kinds.ENDPOINT_CONFIG].arn_type
ENDPOINT: Final = SAGEMAKER_RESOURCES[job_kinds.ENDPOINT].arn_type
EXPERIMENT: Final = EXPERIMENT_ENTITY.arn_type
TRIAL: Final = TRIAL_ENTITY.arn_type

# Statuses each resource passes through (Describe* API references: TrainingJobStatus,
# ProcessingJobStatus, TransformJobStatus, EndpointStatus). Models and endpoint configs are
# created synchronously and have none.
JOB_STATES: Final = ("InProgress", "Stopping", "Completed", "Failed", "Stopped")
JOB_ENDED: Final = frozenset({"Completed", "Failed", "Stopped"})
ENDPOINT_STATES: Final = (
    "Creating",
    "Updating",
    "SystemUpdating",
    "RollingBack",
    "InService",
    "OutOfService",
    "Deleting",
    "Failed",
)
# EndpointStatus (API reference, DescribeEndpoint / EndpointSummary): SystemUpdating "cannot be
# updated or deleted or re-scaled until it has completed"; Creating, Updating, RollingBack and
# Deleting are in progress too.
ENDPOINT_IN_PROGRESS: Final = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})

_K8S_OPERATOR = (
    "aws/amazon-sagemaker-operator-for-k8s, controllers/sdkutil/clientwrapper "
    "(DeleteEndpointInProgressMessagePrefix and the *404* constants: the service's own wording)"
)
_ENDPOINT_STATUS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html"


def _operation(method: str) -> str:
    """The API operation of a boto3 method (create_training_job -> CreateTrainingJob)."""
    return job_kinds.iam_action(method).removeprefix("sagemaker:")


@dataclass(frozen=True)
class Refusal:
    resource: str
    operation: str
    states: frozenset[str]
    code: str
    message: str  # format fields: name, arn, status
    source: str

    def applies(self, operation: str, status: str) -> bool:
        if operation != self.operation:
            return False
        return status in self.states or (EXISTS in self.states and status not in (MISSING, ""))

    def text(self, *, name: str, arn: str, status: str) -> str:
        return self.message.format(name=name, arn=arn, status=status)


def _job_rows(resource: str, noun: str, create: str, stop: str, api: str, stop_source: str) -> list[Refusal]:
    return [
        Refusal(
            resource,
            create,
            frozenset({EXISTS}),
            "ResourceInUse",
            f"{noun.capitalize()} names must be unique within an AWS account and region, and a {noun} "
            "with this name already exists ({arn})",
            # Create*Job API reference, Errors: ResourceInUse ("Resource being accessed is in use");
            # the wording is the service's answer quoted in aws/amazon-sagemaker-examples#3108.
            f"https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_{api}.html#API_{api}_Errors; "
            "wording: https://github.com/aws/amazon-sagemaker-examples/pull/3108",
        ),
        Refusal(
            resource,
            stop,
            JOB_ENDED,
            "ValidationException",
            f"The request was rejected because the {noun} is in status {{status}}.",
            stop_source,
        ),
    ]


_STOP_TRAINING_SOURCE = (
    "StopTrainingJob on a Stopped job: 'The request was rejected because the training job is in "
    "status Stopped.' (quoted in https://github.com/awslabs/benchmark-ai/issues/928)"
)

_STATE_REFUSALS: Final[tuple[Refusal, ...]] = (
    *_job_rows(
        TRAINING_JOB,
        "training job",
        "CreateTrainingJob",
        "StopTrainingJob",
        "CreateTrainingJob",
        _STOP_TRAINING_SOURCE,
    ),
    Refusal(
        TRAINING_JOB,
        "StopTrainingJob",
        frozenset({MISSING}),
        "ValidationException",
        "Requested resource not found.",
        _K8S_OPERATOR + ": StopTrainingJob404MessagePrefix",
    ),
    *_job_rows(
        PROCESSING_JOB,
        "processing job",
        "CreateProcessingJob",
        "StopProcessingJob",
        "CreateProcessingJob",
        "StopProcessingJob only stops a job in progress; wording as StopTrainingJob's "
        + _STOP_TRAINING_SOURCE,
    ),
    Refusal(
        PROCESSING_JOB,
        "StopProcessingJob",
        frozenset({MISSING}),
        "ValidationException",
        "Could not find requested job with name {name}",
        _K8S_OPERATOR + ": DescribeProcessingJob404MessagePrefix",
    ),
    *_job_rows(
        TRANSFORM_JOB,
        "transform job",
        "CreateTransformJob",
        "StopTransformJob",
        "CreateTransformJob",
        "StopTransformJob only stops a job in progress; wording as StopTrainingJob's "
        + _STOP_TRAINING_SOURCE,
    ),
    Refusal(
        TRANSFORM_JOB,
        "StopTransformJob",
        frozenset({MISSING}),
        "ValidationException",
        "Could not find requested job with name {name}",
        "as the processing job's; " + _K8S_OPERATOR,
    ),
    Refusal(
        MODEL,
        "CreateModel",
        frozenset({EXISTS}),
        "ValidationException",
        'Cannot create already existing model "{arn}".',
        "the service's answer (for endpoint configurations, models alike), quoted in "
        "https://github.com/awslabs/spot-tagging-bot-for-digital-assets/issues/2",
    ),
    Refusal(
        MODEL,
        "DeleteModel",
        frozenset({MISSING}),
        "ValidationException",
        'Could not find model "{arn}".',
        _K8S_OPERATOR + ": DeleteModel404MessagePrefix",
    ),
    Refusal(
        ENDPOINT_CONFIG,
        "CreateEndpointConfig",
        frozenset({EXISTS}),
        "ValidationException",
        'Cannot create already existing endpoint configuration "{arn}".',
        "https://github.com/awslabs/spot-tagging-bot-for-digital-assets/issues/2 (the service's answer)",
    ),
    Refusal(
        ENDPOINT_CONFIG,
        "DeleteEndpointConfig",
        frozenset({MISSING}),
        "ValidationException",
        'Could not find endpoint configuration "{arn}".',
        _K8S_OPERATOR + ": DeleteEndpointConfig404MessagePrefix",
    ),
    Refusal(
        ENDPOINT,
        "CreateEndpoint",
        frozenset({EXISTS}),
        "ValidationException",
        'Cannot create already existing endpoint "{arn}".',
        "the service's answer, matched by deploy code in the wild (aws samples: 'Cannot create already "
        "existing endpoint'); CreateEndpoint API reference: the name must be unique in the Region",
    ),
    Refusal(
        ENDPOINT,
        "DeleteEndpoint",
        ENDPOINT_IN_PROGRESS,
        "ValidationException",
        'Cannot update in-progress endpoint "{arn}".',
        _K8S_OPERATOR + " (the operator waits out Creating before deleting); " + _ENDPOINT_STATUS_DOC,
    ),
    Refusal(
        ENDPOINT,
        "DeleteEndpoint",
        frozenset({MISSING}),
        "ValidationException",
        'Could not find endpoint "{arn}".',
        _K8S_OPERATOR + ": DeleteEndpoint404MessagePrefix",
    ),
    Refusal(
        ENDPOINT,
        "UpdateEndpoint",
        ENDPOINT_IN_PROGRESS,
        "ValidationException",
        'Cannot update in-progress endpoint "{arn}".',
        "the service's answer while Creating/Updating (quoted in deploy tooling and the k8s operator: "
        + _K8S_OPERATOR
        + "); "
        + _ENDPOINT_STATUS_DOC,
    ),
    Refusal(
        ENDPOINT,
        "UpdateEndpoint",
        frozenset({"Failed"}),
        "ValidationException",
        'Cannot update failed endpoint "{arn}".',
        "the service's answer; a Failed endpoint must be deleted and created again "
        "(hashicorp/terraform-provider-aws acceptance tests: 'Cannot update failed endpoint')",
    ),
    Refusal(
        ENDPOINT,
        "UpdateEndpoint",
        frozenset({MISSING}),
        "ValidationException",
        'Could not find endpoint "{arn}".',
        _K8S_OPERATOR + ": UpdateEndpoint404MessagePrefix",
    ),
)

# Experiments and trials (dtrain.orchestration.experiment_entities): a name in use is refused
# with the answer the SDK's _load_or_create adopts, one nothing holds with the ResourceNotFound
# the API reference lists (moto overwrote the first and failed the second with a KeyError).
_SDK_LOAD_OR_CREATE = (
    "sagemaker-python-sdk src/sagemaker/experiments/experiment.py and trial.py, _load_or_create: "
    "a ValidationException whose message holds 'already exists' means the name is in use"
)
EXPERIMENT_NOT_FOUND: Final = {
    e.arn_type: f"{e.noun.capitalize()} '{{arn}}' does not exist." for e in EXPERIMENT_ENTITIES
}
_EXPERIMENT_REFUSALS: Final = tuple(
    row
    for entity in EXPERIMENT_ENTITIES
    for row in (
        Refusal(
            entity.arn_type,
            _operation(entity.create),
            frozenset({EXISTS}),
            "ValidationException",
            f"{entity.noun.capitalize()} '{{arn}}' already exists.",
            _SDK_LOAD_OR_CREATE,
        ),
        Refusal(
            entity.arn_type,
            _operation(entity.describe),
            frozenset({MISSING}),
            "ResourceNotFound",
            EXPERIMENT_NOT_FOUND[entity.arn_type],
            f"https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_{_operation(entity.describe)}.html"
            " (Errors: ResourceNotFound); wording as moto's AssociateTrialComponent answer",
        ),
    )
)

# Describe* of a name nothing holds: the answer each service gives (moto words them its own way).
_DESCRIBE_MISSING: Final = (
    (
        TRAINING_JOB,
        "DescribeTrainingJob",
        "Requested resource not found.",
        "DescribeTrainingJob404MessagePrefix",
    ),
    (
        PROCESSING_JOB,
        "DescribeProcessingJob",
        "Could not find requested job with name {name}",
        "DescribeProcessingJob404MessagePrefix",
    ),
    (
        TRANSFORM_JOB,
        "DescribeTransformJob",
        "Could not find requested job with name {name}",
        "as DescribeProcessingJob404MessagePrefix",
    ),
    (MODEL, "DescribeModel", 'Could not find model "{arn}".', "DescribeModel404MessagePrefix"),
    (
        ENDPOINT_CONFIG,
        "DescribeEndpointConfig",
        'Could not find endpoint configuration "{arn}".',
        "DescribeEndpointConfig404MessagePrefix",
    ),
    (ENDPOINT, "DescribeEndpoint", 'Could not find endpoint "{arn}".', "DescribeEndpoint404MessagePrefix"),
)
REFUSALS: Final[tuple[Refusal, ...]] = (
    *_STATE_REFUSALS,
    *_EXPERIMENT_REFUSALS,
    *(
        Refusal(
            resource,
            operation,
            frozenset({MISSING}),
            "ValidationException",
            message,
            f"{_K8S_OPERATOR}: {const}",
        )
        for resource, operation, message, const in _DESCRIBE_MISSING
    ),
)


# The operation's resource and the request parameter naming it: every call of the table, and
# the experiment entities' creates and describes.
OPERATIONS: Final[Mapping[str, tuple[str, str]]] = {
    **{
        _operation(method): (resource.arn_type, resource.name_key)
        for resource in SAGEMAKER_RESOURCES.values()
        for method in (resource.method(call) for call in job_kinds.CALLS)
        if method is not None
    },
    **{
        _operation(method): (entity.arn_type, entity.name_key)
        for entity in EXPERIMENT_ENTITIES
        for method in (entity.create, entity.describe)
    },
}

# Resources another one names, which must exist when it is created (the same "Could not find"
# answers as the rows above): what a create or an update names besides its own resource.
REFERENCES: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    _operation(method): tuple(
        (SAGEMAKER_RESOURCES[other].arn_type, SAGEMAKER_RESOURCES[other].name_key)
        for other in resource.names_also
    )
    for resource in job_kinds.KINDS.values()
    if resource.names_also
    for method in (resource.create, resource.update)
    if method is not None
}
# The experiment entities a create names, which must exist: a job's ExperimentConfig (API
# reference, ExperimentConfig: ExperimentName "the name of an existing experiment", TrialName "the
# name of an existing trial"), a trial's experiment. Refused with ResourceNotFound, the not-found
# error CreateTrainingJob, CreateProcessingJob, CreateTransformJob and CreateTrial list
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html#API_CreateTrainingJob_Errors).
EXPERIMENT_CONFIG_OPERATIONS: Final = tuple(
    _operation(kind.create) for kind in job_kinds.KINDS.values() if kind.kind != job_kinds.ENDPOINT
)


def experiment_references(operation: str, params: Mapping[str, object]) -> list[tuple[str, str]]:
    """(ARN type, name) of each experiment entity the request names that must exist."""
    if operation == _operation(TRIAL_ENTITY.create):
        named: Mapping[str, object] = {EXPERIMENT_ENTITY.name_key: params.get(EXPERIMENT_ENTITY.name_key)}
    elif operation in EXPERIMENT_CONFIG_OPERATIONS:
        config = params.get("ExperimentConfig")
        named = config if isinstance(config, Mapping) else {}
    else:
        return []
    return [(e.arn_type, str(named[e.name_key])) for e in EXPERIMENT_ENTITIES if named.get(e.name_key)]


NOT_FOUND_MESSAGES: Final[Mapping[str, str]] = {
    MODEL: 'Could not find model "{arn}".',
    ENDPOINT_CONFIG: 'Could not find endpoint configuration "{arn}".',
}


def refusal_for(operation: str, status: str) -> Refusal | None:
    """The row refusing `operation` on a resource in `status` (EXISTS/MISSING for names)."""
    return next((r for r in REFUSALS if r.applies(operation, status)), None)


def fidelity_table() -> list[dict[str, str]]:
    """One row per refusal: resource, operation, states, code, source (the closing note's table)."""
    return [
        {
            "resource": r.resource,
            "operation": r.operation,
            "refused in": ", ".join(sorted(r.states)),
            "answer": f"{r.code}: {r.message}",
            "source": r.source,
        }
        for r in REFUSALS
    ]
