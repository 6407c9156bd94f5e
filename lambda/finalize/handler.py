"""Finalize Lambda: `mode` job | item | failure | sweep | hosting -> result + notification text."""

from __future__ import annotations

import os
from typing import Any

import boto3

from dtrain.orchestration import observability
from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.finalize import (
    after_sweep,
    finalize_failure,
    finalize_job,
    finalize_sweep,
    sweep_item_result,
)
from dtrain.orchestration.hosting_result import finalize_hosting
from dtrain.orchestration.ledger import Ledger


def _ledger() -> Ledger | None:
    table = os.environ.get("LEDGER_TABLE")
    return Ledger(table) if table else None


instruments = observability.Instruments("finalize")


@instruments.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    observability.correlate(
        execution_name=event.get("execution_name"),
        job_name=event.get("job_name"),
        item_index=event.get("index"),
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    mode = event.get("mode")
    execution_arn = str(event.get("execution_arn", ""))
    if mode == "job":
        return finalize_job(
            boto3.client("sagemaker"), str(event["job_name"]), region=region, execution_arn=execution_arn
        )
    if mode == "item":
        return sweep_item_result(
            boto3.client("sagemaker"),
            str(event["job_name"]),
            index=int(event.get("index") or 0),
            metric=str(event.get("objective_metric") or ""),
            ledger=_ledger(),
        )
    if mode == "failure":
        return finalize_failure(
            event.get("error") or {},
            region=region,
            execution_arn=execution_arn,
            execution_name=str(event.get("execution_name", "")),
        )
    if mode == "sweep":
        ledger = _ledger()
        plan = event.get("plan") or {}
        final = finalize_sweep(
            event.get("results") or [],
            plan.get("objective") or {},
            region=region,
            execution_arn=execution_arn,
            plan_items=plan.get("items") or [],
            ledger_rows=ledger.find_by_execution(execution_arn) if ledger and execution_arn else [],
        )
        return after_sweep(plan, final)
    if mode == "hosting":
        return finalize_hosting(
            boto3.client("sagemaker"),
            kind=str(event.get("kind") or ""),
            training=event.get("training") or {},
            model=event.get("model") or {},
            hosting=event.get("hosting") or {},
            region=region,
            execution_arn=execution_arn,
        )
    raise InvalidEvent(f"unknown mode {mode!r}")
