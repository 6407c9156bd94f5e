"""The kinds of SageMaker job an execution waits on, and the API names each one uses.

Submit, the job-events handler, reconcile and abort treat every kind alike (ledger row,
callback token, idempotent create, stop when the execution ends); only these names differ.
The event detail-types come from "Events that Amazon SageMaker AI sends to Amazon EventBridge"
(https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html):
the detail of each is the job's Describe* answer (name, status, ARN, FailureReason).

The one table of kinds: the Lambdas call through it, the orchestration construct makes its event
rules and the SageMaker IAM statements from it (stacks/orchestration/event_rules.py,
stacks/orchestration/permissions.py), the cdk-nag acknowledgments name its ARN types, and the
emulator puts its events under its detail-types (dtrain/emulator/lifecycle/events.py).

Beside it, HOSTED_RESOURCES: what the hosting phases create that no execution waits on (a model,
an endpoint config). With the kinds they make SAGEMAKER_RESOURCES, every SageMaker resource the
platform calls: its ARN type and boto3 methods, hence its IAM actions (iam_action).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

TRAINING = "training"
PROCESSING = "processing"
TRANSFORM = "transform"
# An endpoint is not a job: its row is keyed by the endpoint config the execution deployed and
# follows the endpoint by name (LedgerRow.resource_name); dtrain.orchestration.kinds reads its
# outcome and decides how an abort treats it. The table gives it its event and error names.
ENDPOINT = "endpoint"

# What the hosting phases create besides the endpoint or transform job (HOSTED_RESOURCES).
MODEL = "model"
ENDPOINT_CONFIG = "endpoint-config"

# What a job's status is when it has ended (DescribeTrainingJob and the others' status enums).
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")


def iam_action(method: str) -> str:
    """The IAM action of a boto3 method: describe_training_job -> sagemaker:DescribeTrainingJob
    (Service Authorization Reference, "Actions defined by Amazon SageMaker AI")."""
    return "sagemaker:" + "".join(word.capitalize() for word in method.split("_"))


# The calls a resource of the table may answer; each names a boto3 method or None.
CALLS = ("create", "describe", "update", "stop", "delete")


class _Calls:
    def method(self, call: str) -> str | None:
        """The boto3 method of a call (one of CALLS); None where the resource has none."""
        found = getattr(self, call)
        return str(found) if found else None


@dataclass(frozen=True)
class JobKind(_Calls):
    kind: str
    noun: str  # in messages: "training job"
    name_key: str  # TrainingJobName
    status_key: str
    arn_key: str
    arn_type: str  # the resource type in the job's ARN
    describe: str  # the boto3 method names
    stop: str
    create: str
    event_detail_type: str
    failed_error: str  # the Step Functions error a failed job's callback carries
    stopped_error: str
    # The EventBridge rule that sends this kind's events to the job-events Lambda: its construct
    # id, its description, and the statuses it passes (none named: every status change, as an
    # endpoint's InService or Failed both answer a wait).
    event_rule: str
    event_rule_description: str
    terminal_statuses: tuple[str, ...] = ()
    update: str | None = None  # an endpoint takes a new config in place
    # The other resources its create (and update) name, whose ARNs SageMaker authorizes too
    # (Service Authorization Reference: CreateEndpoint / UpdateEndpoint act on endpoint and
    # endpoint-config, CreateTransformJob on transform-job and model).
    names_also: tuple[str, ...] = ()
    delete: None = None  # jobs are stopped, not deleted (an endpoint's `stop` is its delete)

    def arn_types(self, call: str) -> tuple[str, ...]:
        """The ARN types SageMaker authorizes the call against: its own, and for a create or an
        update the resources it names."""
        if call not in ("create", "update"):
            return (self.arn_type,)
        return (self.arn_type, *(SAGEMAKER_RESOURCES[other].arn_type for other in self.names_also))

    def event_detail(self, name_prefix: str) -> dict[str, Any]:
        """The rule's detail pattern: this platform's resources (by name prefix), at these statuses."""
        detail: dict[str, Any] = {}
        if self.terminal_statuses:
            detail[self.status_key] = list(self.terminal_statuses)
        detail[self.name_key] = [{"prefix": f"{name_prefix}-"}]
        return detail

    def iam_action(self, method: str) -> str:
        return iam_action(method)

    def describe_job(self, sagemaker: Any, name: str) -> dict[str, Any] | None:
        """Describe*; None when SageMaker has no such job."""
        try:
            out: dict[str, Any] = getattr(sagemaker, self.describe)(**{self.name_key: name})
            return out
        except ClientError as err:
            if err.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
                return None
            raise

    def stop_job(self, sagemaker: Any, name: str) -> bool:
        """Stop*; False when there is nothing to stop (never created, or finished)."""
        try:
            getattr(sagemaker, self.stop)(**{self.name_key: name})
        except ClientError as err:
            if err.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
                return False
            raise
        return True


KINDS: Mapping[str, JobKind] = {
    TRAINING: JobKind(
        kind=TRAINING,
        noun="training job",
        name_key="TrainingJobName",
        status_key="TrainingJobStatus",
        arn_key="TrainingJobArn",
        arn_type="training-job",
        describe="describe_training_job",
        stop="stop_training_job",
        create="create_training_job",
        event_detail_type="SageMaker Training Job State Change",
        failed_error="SageMaker.TrainingJobFailed",
        stopped_error="SageMaker.TrainingJobStopped",
        event_rule="TrainingJobStateChange",
        event_rule_description="SageMaker training jobs of this platform reached a terminal status",
        terminal_statuses=TERMINAL_STATUSES,
    ),
    PROCESSING: JobKind(
        kind=PROCESSING,
        noun="processing job",
        name_key="ProcessingJobName",
        status_key="ProcessingJobStatus",
        arn_key="ProcessingJobArn",
        arn_type="processing-job",
        describe="describe_processing_job",
        stop="stop_processing_job",
        create="create_processing_job",
        event_detail_type="SageMaker Processing Job State Change",
        failed_error="SageMaker.ProcessingJobFailed",
        stopped_error="SageMaker.ProcessingJobStopped",
        event_rule="ProcessingJobStateChange",
        event_rule_description="SageMaker processing jobs of this platform reached a terminal status",
        terminal_statuses=TERMINAL_STATUSES,
    ),
    TRANSFORM: JobKind(
        kind=TRANSFORM,
        noun="transform job",
        name_key="TransformJobName",
        status_key="TransformJobStatus",
        arn_key="TransformJobArn",
        arn_type="transform-job",
        describe="describe_transform_job",
        stop="stop_transform_job",
        create="create_transform_job",
        event_detail_type="SageMaker Transform Job State Change",
        failed_error="SageMaker.TransformJobFailed",
        stopped_error="SageMaker.TransformJobStopped",
        event_rule="TransformJobStateChange",
        event_rule_description="Transform jobs of this platform reached a terminal status",
        terminal_statuses=TERMINAL_STATUSES,
        names_also=(MODEL,),
    ),
    ENDPOINT: JobKind(
        kind=ENDPOINT,
        noun="endpoint",
        name_key="EndpointName",
        status_key="EndpointStatus",
        arn_key="EndpointArn",
        arn_type="endpoint",
        describe="describe_endpoint",
        stop="delete_endpoint",
        create="create_endpoint",
        event_detail_type="SageMaker Endpoint State Change",
        failed_error="SageMaker.EndpointFailed",
        stopped_error="SageMaker.EndpointStopped",
        event_rule="EndpointStateChange",
        event_rule_description="Endpoints of this platform changed status (InService, Failed, ...)",
        update="update_endpoint",
        names_also=(ENDPOINT_CONFIG,),
    ),
}
BY_DETAIL_TYPE: Mapping[str, JobKind] = {k.event_detail_type: k for k in KINDS.values()}


@dataclass(frozen=True)
class HostedResource(_Calls):
    """A resource the hosting phases create and no execution waits on: created synchronously,
    with no status of its own and no state-change event (CreateModel, CreateEndpointConfig)."""

    kind: str
    noun: str
    name_key: str  # ModelName
    arn_key: str  # ModelArn
    arn_type: str
    create: str  # the boto3 method names
    describe: str
    delete: str
    update: None = None
    stop: None = None

    def arn_types(self, call: str) -> tuple[str, ...]:
        return (self.arn_type,)


HOSTED_RESOURCES: Mapping[str, HostedResource] = {
    MODEL: HostedResource(
        kind=MODEL,
        noun="model",
        name_key="ModelName",
        arn_key="ModelArn",
        arn_type="model",
        create="create_model",
        describe="describe_model",
        delete="delete_model",
    ),
    ENDPOINT_CONFIG: HostedResource(
        kind=ENDPOINT_CONFIG,
        noun="endpoint config",
        name_key="EndpointConfigName",
        arn_key="EndpointConfigArn",
        arn_type="endpoint-config",
        create="create_endpoint_config",
        describe="describe_endpoint_config",
        delete="delete_endpoint_config",
    ),
}
# Every SageMaker resource the platform calls, jobs and hosted resources alike.
SAGEMAKER_RESOURCES: Mapping[str, JobKind | HostedResource] = {**KINDS, **HOSTED_RESOURCES}


def job_kind(kind: str | None) -> JobKind:
    """The kind a ledger row or payload names; rows written before kinds existed are training."""
    return KINDS[kind or TRAINING]
