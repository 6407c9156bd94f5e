"""What each kind of ledger row follows, as one table: describe it, read its outcome, stop it.

Job events, reconcile and abort treat every row alike; only these three things differ between
a training job, a transform job and an endpoint:

- training / transform job: Describe*Job; its status is the outcome; Stop*Job stops it.
- endpoint (keyed by the endpoint config this execution created; `resource_name` is the
  endpoint): "Completed" once the endpoint is InService *with that config*. An UpdateEndpoint
  that fails rolls the endpoint back to its previous config and leaves it InService with a
  FailureReason (UpdateEndpoint API reference: "the endpoint returns to InService with the
  previous EndpointConfig"), which is this row's failure. An endpoint cannot be stopped; the
  abort of an execution deletes the endpoint only while it is still Creating (it never served:
  nothing else uses it, and a half-created endpoint would outlive its execution); an update in
  progress is left to finish or roll back, so the model already serving keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from dtrain.orchestration.ledger import ENDPOINT, TRAINING, TRANSFORM, LedgerRow
from dtrain.orchestration.outcome import JobOutcome

# SageMaker's answer to a Describe/Stop of something that does not exist (or not any more).
NOT_FOUND_CODES = ("ValidationException", "ResourceNotFound")

# EventBridge detail-type -> the kind of row it answers ("Events that Amazon SageMaker AI sends
# to Amazon EventBridge", https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html).
JOB_STATE_CHANGE = "SageMaker Training Job State Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
TRANSFORM_STATE_CHANGE = "SageMaker Transform Job State Change"
EVENT_KINDS = {JOB_STATE_CHANGE: TRAINING, ENDPOINT_STATE_CHANGE: ENDPOINT, TRANSFORM_STATE_CHANGE: TRANSFORM}

# Endpoint statuses that will not turn InService without a new call (DescribeEndpoint).
_ENDPOINT_DEAD = ("Failed", "OutOfService", "Deleting")


def _not_found(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in NOT_FOUND_CODES


def training_outcome(row_key: str, desc: Mapping[str, Any]) -> JobOutcome:
    return JobOutcome(
        job_name=row_key,
        status=str(desc["TrainingJobStatus"]),
        job_arn=str(desc.get("TrainingJobArn", "")),
        failure_reason=desc.get("FailureReason") or None,
    )


def transform_outcome(row_key: str, desc: Mapping[str, Any]) -> JobOutcome:
    return JobOutcome(
        job_name=row_key,
        status=str(desc["TransformJobStatus"]),
        job_arn=str(desc.get("TransformJobArn", "")),
        failure_reason=desc.get("FailureReason") or None,
        kind=TRANSFORM,
    )


def endpoint_outcome(row_key: str, desc: Mapping[str, Any]) -> JobOutcome:
    """`row_key` is the endpoint config this execution deployed (the row's key)."""
    status = str(desc.get("EndpointStatus", ""))
    reason = desc.get("FailureReason") or None
    name = str(desc.get("EndpointName", ""))
    outcome = "InProgress"
    if status == "InService" and desc.get("EndpointConfigName") == row_key:
        outcome, reason = "Completed", None
    elif status == "InService" and reason:
        outcome = "Failed"  # an update that failed and rolled back to the previous config
        reason = f"endpoint {name} kept its previous config: {reason}"
    elif status in _ENDPOINT_DEAD:
        outcome = "Failed"
        reason = reason or f"endpoint {name} is {status}"
    return JobOutcome(
        job_name=row_key,
        status=outcome,
        job_arn=str(desc.get("EndpointArn", "")),
        failure_reason=reason,
        kind=ENDPOINT,
    )


def _describe_training(sagemaker: Any, row: LedgerRow) -> dict[str, Any]:
    out: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=row.resource)
    return out


def _describe_transform(sagemaker: Any, row: LedgerRow) -> dict[str, Any]:
    out: dict[str, Any] = sagemaker.describe_transform_job(TransformJobName=row.resource)
    return out


def _describe_endpoint(sagemaker: Any, row: LedgerRow) -> dict[str, Any]:
    out: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=row.resource)
    return out


def _stop_training(sagemaker: Any, row: LedgerRow, desc: Mapping[str, Any]) -> bool:
    sagemaker.stop_training_job(TrainingJobName=row.resource)
    return True


def _stop_transform(sagemaker: Any, row: LedgerRow, desc: Mapping[str, Any]) -> bool:
    sagemaker.stop_transform_job(TransformJobName=row.resource)
    return True


def _stop_endpoint(sagemaker: Any, row: LedgerRow, desc: Mapping[str, Any]) -> bool:
    # Only an endpoint this execution is still creating (see the module docstring).
    if desc.get("EndpointStatus") != "Creating" or desc.get("EndpointConfigName") != row.job_name:
        return False
    sagemaker.delete_endpoint(EndpointName=row.resource)
    return True


@dataclass(frozen=True)
class Kind:
    describe: Callable[[Any, LedgerRow], dict[str, Any]]
    outcome: Callable[[str, Mapping[str, Any]], JobOutcome]
    stop: Callable[[Any, LedgerRow, Mapping[str, Any]], bool]
    # Whether stopping looks at the resource first (an endpoint); a training job's Abort Lambda
    # may only stop it (no Describe permission), as before kinds existed.
    stop_needs_describe: bool = True


KINDS: dict[str, Kind] = {
    TRAINING: Kind(_describe_training, training_outcome, _stop_training, stop_needs_describe=False),
    TRANSFORM: Kind(_describe_transform, transform_outcome, _stop_transform),
    ENDPOINT: Kind(_describe_endpoint, endpoint_outcome, _stop_endpoint),
}


def kind_of(row: LedgerRow) -> Kind:
    return KINDS.get(row.kind, KINDS[TRAINING])


def describe_row(sagemaker: Any, row: LedgerRow) -> dict[str, Any] | None:
    """What SageMaker says of the row's resource now; None when it does not exist."""
    try:
        return kind_of(row).describe(sagemaker, row)
    except ClientError as err:
        if _not_found(err):
            return None
        raise


def row_outcome(row: LedgerRow, desc: Mapping[str, Any]) -> JobOutcome:
    return kind_of(row).outcome(row.job_name, desc)


def stop_row(sagemaker: Any, row: LedgerRow, desc: Mapping[str, Any] | None = None) -> bool:
    """Stop what the row started; False when there is nothing (left) to stop."""
    try:
        kind = kind_of(row)
        if desc is None and kind.stop_needs_describe:
            desc = describe_row(sagemaker, row)
            if desc is None:
                return False
        return kind.stop(sagemaker, row, desc or {})
    except ClientError as err:
        if _not_found(err):
            return False
        raise
