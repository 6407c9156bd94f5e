"""Finalize Lambda: `mode` job | item | failure | sweep | hosting -> result + notification text.

Thin: parses the event into its typed payload (dtrain.orchestration.payloads), calls
dtrain.orchestration.
"""

from __future__ import annotations

import os
from typing import Any

from dtrain.orchestration import observability
from dtrain.orchestration.environment_clients import EnvironmentClients
from dtrain.orchestration.finalize import (
    after_sweep,
    finalize_failure,
    finalize_job,
    finalize_sweep,
    sweep_item_result,
)
from dtrain.orchestration.hosting_result import finalize_hosting
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.payloads import (
    FailurePayload,
    FinalizeJobPayload,
    ItemResultPayload,
    RankSweepPayload,
    parse_finalize_event,
)


def _ledger() -> Ledger | None:
    table = os.environ.get("LEDGER_TABLE")
    return clients.ledger(table) if table else None


instruments = observability.Instruments("finalize")
# Made once per execution environment, on first use (dtrain.orchestration.environment_clients).
clients = EnvironmentClients()


@instruments.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = parse_finalize_event(event)
    observability.correlate(**payload.correlation())
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if isinstance(payload, FinalizeJobPayload):
        return finalize_job(
            clients.client("sagemaker"), payload.job_name, region=region, execution_arn=payload.execution_arn
        )
    if isinstance(payload, ItemResultPayload):
        return sweep_item_result(
            clients.client("sagemaker"),
            payload.job_name,
            index=payload.index,
            metric=payload.objective_metric,
            ledger=_ledger(),
        )
    if isinstance(payload, FailurePayload):
        return finalize_failure(
            payload.error,
            region=region,
            execution_arn=payload.execution_arn,
            execution_name=payload.execution_name,
        )
    if isinstance(payload, RankSweepPayload):
        return _rank_sweep(payload, region)
    return finalize_hosting(
        clients.client("sagemaker"),
        kind=payload.kind,
        training=payload.training,
        model=payload.model,
        hosting=payload.hosting,
        region=region,
        execution_arn=payload.execution_arn,
    )


def _rank_sweep(payload: RankSweepPayload, region: str) -> dict[str, Any]:
    ledger, plan, execution_arn = _ledger(), payload.plan, payload.execution_arn
    final = finalize_sweep(
        payload.results,
        plan.get("objective") or {},
        region=region,
        execution_arn=execution_arn,
        plan_items=plan.get("items") or [],
        ledger_rows=ledger.find_by_execution(execution_arn) if ledger and execution_arn else [],
    )
    return after_sweep(plan, final)
