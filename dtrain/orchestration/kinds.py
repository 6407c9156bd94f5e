"""A ledger row's resource: describe it, read its outcome, stop it, whatever its kind.

Job events, reconcile and abort treat every row alike through these three functions:

- a job (training, processing, transform): the names in dtrain.orchestration.job_kinds;
  Describe*Job, its status is the outcome, Stop*Job stops it.
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

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from dtrain.orchestration.job_kinds import ENDPOINT, job_kind
from dtrain.orchestration.ledger import LedgerRow
from dtrain.orchestration.outcome import JobOutcome, outcome_from_describe

# SageMaker's answer to a Describe/Stop of something that does not exist (or not any more).
NOT_FOUND_CODES = ("ValidationException", "ResourceNotFound")
# Endpoint statuses that will not turn InService without a new call (DescribeEndpoint).
_ENDPOINT_DEAD = ("Failed", "OutOfService", "Deleting")


def _not_found(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in NOT_FOUND_CODES


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


def describe_row(sagemaker: Any, row: LedgerRow) -> dict[str, Any] | None:
    """What SageMaker says of the row's resource now; None when it does not exist."""
    if row.kind != ENDPOINT:
        return job_kind(row.kind).describe_job(sagemaker, row.job_name)
    try:
        out: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=row.resource)
        return out
    except ClientError as err:
        if _not_found(err):
            return None
        raise


def row_outcome(row: LedgerRow, desc: Mapping[str, Any]) -> JobOutcome:
    if row.kind == ENDPOINT:
        return endpoint_outcome(row.job_name, desc)
    return outcome_from_describe(desc, row.kind)


def stop_row(sagemaker: Any, row: LedgerRow, desc: Mapping[str, Any] | None = None) -> bool:
    """Stop what the row started; False when there is nothing (left) to stop."""
    if row.kind != ENDPOINT:
        return job_kind(row.kind).stop_job(sagemaker, row.job_name)
    if desc is None:
        desc = describe_row(sagemaker, row)
    # Only an endpoint this execution is still creating (see the module docstring).
    if (
        desc is None
        or desc.get("EndpointStatus") != "Creating"
        or desc.get("EndpointConfigName") != row.job_name
    ):
        return False
    try:
        sagemaker.delete_endpoint(EndpointName=row.resource)
    except ClientError as err:
        if _not_found(err):
            return False
        raise
    return True
