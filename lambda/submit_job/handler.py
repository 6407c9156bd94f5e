"""Submit Lambda: `phase: prepare` validates and plans; `phase: process` creates the processing
job, `phase: submit` the training job; `phase: model | deploy | transform` host the trained
model (dtrain.orchestration.hosting).

Thin: parses the event, builds clients from the environment, calls dtrain.orchestration.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

from dtrain.jobspec.platform import PlatformSettings
from dtrain.orchestration import observability
from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.hosting import HostingRequest, HostingSubmitter
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.observability import Metric
from dtrain.orchestration.submit import (
    SubmitRequest,
    Submitter,
    prepare,
    sagemaker_client,
    sagemaker_create_client,
)
from dtrain.orchestration.timeouts import DEFAULT_MARGIN_S

instruments = observability.Instruments("submit_job")
log = instruments.logger


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


@instruments.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    platform = PlatformSettings.from_env(os.environ)
    phase = event.get("phase")
    if phase == "prepare":
        margin = int(os.environ.get("DTRAIN_WAIT_MARGIN_S", DEFAULT_MARGIN_S))
        return prepare(event.get("spec") or {}, platform, region=_region(), margin_s=margin)
    if phase in ("submit", "process"):  # process: the spec's processing job, before training
        observability.correlate(
            execution_name=event.get("execution_name"), item_index=event.get("item_index")
        )
        submitter = Submitter(
            ledger=Ledger(os.environ["LEDGER_TABLE"]),
            sagemaker=sagemaker_client(_region()),
            sagemaker_create=sagemaker_create_client(_region()),
            sfn=boto3.client("stepfunctions"),
            platform=platform,
            region=_region(),
            backoff=BackoffPolicy.from_env(os.environ),
        )
        result = submitter.submit(SubmitRequest.from_event(event))
        observability.count(Metric.SUBMISSIONS)
        if result.adopted:
            observability.count(Metric.ADOPTIONS)
        log.info("job submitted", extra={"phase": phase, "adopted": result.adopted})
        return {"job_name": result.job_name, "adopted": result.adopted}
    if phase in ("model", "deploy", "transform"):  # after training: dtrain.orchestration.hosting
        observability.correlate(execution_name=event.get("execution_name"))
        hosting = HostingSubmitter(
            ledger=Ledger(os.environ["LEDGER_TABLE"]),
            sagemaker=sagemaker_client(_region()),
            sfn=boto3.client("stepfunctions"),
            platform=platform,
            region=_region(),
            s3=boto3.client("s3"),
        )
        step = {"model": hosting.create_model, "deploy": hosting.deploy, "transform": hosting.transform}
        out = step[phase](HostingRequest.from_event(event))
        log.info("hosting step", extra={"phase": phase, **out})
        return out
    raise InvalidEvent(
        f"unknown phase {phase!r}; expected prepare, process, submit, model, deploy or transform"
    )
