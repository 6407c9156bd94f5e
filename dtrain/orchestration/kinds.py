"""A ledger row's resource: describe it, read its outcome, stop it, whatever its kind.

Job events, reconcile and abort treat every row alike through these three functions:

- a job (training, processing, transform): the names in dtrain.orchestration.job_kinds;
  Describe*Job, its status is the outcome, Stop*Job stops it.
- endpoint (keyed by the endpoint config this execution created; `resource_name` is the
  endpoint): "Completed" once the endpoint is InService *with that config*. An UpdateEndpoint
  that fails rolls the endpoint back to its previous config and leaves it InService with a
  FailureReason (UpdateEndpoint API reference: "the endpoint returns to InService with the
  previous EndpointConfig"), which is this row's failure. An endpoint cannot be stopped; the
  abort of an execution deletes an endpoint that execution created and never handed over (it
  never served: nothing else uses it, and it would bill past its execution); an update in
  progress is left to finish or roll back, so the model already serving keeps serving.

  DeleteEndpoint is refused while the endpoint is Creating (ValidationException; AWS's own
  SageMaker operator for Kubernetes waits that state out before it deletes), so an abort during
  creation only marks the row "Stopping": the endpoint's next state-change event, or reconcile,
  deletes it once it is InService or Failed ("DeleteEndpoint is the only operation that can be
  performed on a failed endpoint", EndpointSummary, SageMaker API reference).

EventBridge's "SageMaker Endpoint State Change" writes EndpointStatus in upper snake case
(`IN_SERVICE`, AWS's sample in "Events that Amazon SageMaker AI sends to Amazon EventBridge",
https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html);
DescribeEndpoint writes `InService`. endpoint_status() reads both.
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
# The states in which DeleteEndpoint is accepted: not while SageMaker is still working on the
# endpoint (Creating, Updating, SystemUpdating, RollingBack) nor while it is already Deleting.
ENDPOINT_DELETABLE = ("InService", "Failed", "OutOfService")


def _not_found(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in NOT_FOUND_CODES


def endpoint_status(desc: Mapping[str, Any]) -> str:
    """DescribeEndpoint's status, from a Describe answer or an event's detail (`IN_SERVICE` ->
    `InService`, `OUT_OF_SERVICE` -> `OutOfService`, `FAILED` -> `Failed`)."""
    status = str(desc.get("EndpointStatus", ""))
    if status.isupper() or "_" in status:
        return "".join(word.capitalize() for word in status.split("_"))
    return status


def endpoint_outcome(row_key: str, desc: Mapping[str, Any]) -> JobOutcome:
    """`row_key` is the endpoint config this execution deployed (the row's key)."""
    status = endpoint_status(desc)
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
    """Stop what the row started; False when there is nothing (left) to stop.

    An endpoint this execution is creating counts as stopped once its deletion is asked for:
    at once where SageMaker accepts DeleteEndpoint, otherwise by the row's "Stopping" status,
    which delete_abandoned_endpoint() honours when the endpoint leaves Creating."""
    if row.kind != ENDPOINT:
        return job_kind(row.kind).stop_job(sagemaker, row.job_name)
    if desc is None:
        desc = describe_row(sagemaker, row)
    # Only an endpoint this execution is still creating (see the module docstring).
    # The caller records "Stopping": DeleteEndpoint would be refused now.
    return (
        desc is not None
        and endpoint_status(desc) == "Creating"
        and desc.get("EndpointConfigName") == row.job_name
    )


def delete_abandoned_endpoint(sagemaker: Any, row: LedgerRow, desc: Mapping[str, Any] | None) -> str:
    """The endpoint of a row an abort marked "Stopping": deleted once SageMaker accepts it.

    Returns "gone" (nothing left to delete), "deleted" (DeleteEndpoint accepted now),
    "deleting" (SageMaker is deleting it already) or "waiting" (still Creating: asked again by
    the next reconcile)."""
    if desc is None:
        return "gone"
    status = endpoint_status(desc)
    if status == "Deleting":
        return "deleting"
    if status not in ENDPOINT_DELETABLE or desc.get("EndpointConfigName") != row.job_name:
        # Creating: wait. Another config serving (someone else's deploy took the name over
        # after ours was deleted): not ours to delete.
        return "waiting" if status not in ENDPOINT_DELETABLE else "gone"
    try:
        sagemaker.delete_endpoint(EndpointName=row.resource)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code")
        if code == "ValidationException" and "Could not find" in str(err.response["Error"].get("Message")):
            return "gone"
        if code == "ValidationException":
            return "waiting"  # a state change raced us (the endpoint went back to Updating)
        raise
    return "deleted"
