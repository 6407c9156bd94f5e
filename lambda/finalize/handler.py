"""Finalize Lambda: `mode` job | item | failure | sweep -> result + notification text."""

from __future__ import annotations

import os
from typing import Any

import boto3

from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.finalize import finalize_failure, finalize_job, finalize_sweep, sweep_item_result


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    mode = event.get("mode")
    execution_arn = str(event.get("execution_arn", ""))
    if mode == "job":
        return finalize_job(
            boto3.client("sagemaker"), str(event["job_name"]), region=region, execution_arn=execution_arn
        )
    if mode == "item":
        result = sweep_item_result(boto3.client("sagemaker"), str(event["job_name"]))
        return {**result, "index": event.get("index"), "overrides": event.get("overrides") or {}}
    if mode == "failure":
        return finalize_failure(
            event.get("error") or {},
            region=region,
            execution_arn=execution_arn,
            execution_name=str(event.get("execution_name", "")),
        )
    if mode == "sweep":
        return finalize_sweep(
            event.get("results") or [],
            event.get("objective") or {},
            region=region,
            execution_arn=execution_arn,
        )
    raise InvalidEvent(f"unknown mode {mode!r}")
