"""Submit Lambda: `phase: prepare` validates and plans; `phase: process` creates the processing
job, `phase: submit` the training job; `phase: model | deploy | transform` host the trained
model (dtrain.orchestration.hosting).

Thin: parses the event, builds clients from the environment, calls dtrain.orchestration.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3

from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.hosting import HostingRequest, HostingSubmitter
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.submit import (
    SubmitRequest,
    Submitter,
    prepare,
    sagemaker_client,
    sagemaker_create_client,
)
from dtrain.orchestration.timeouts import DEFAULT_MARGIN_S
from dtrain.platform import PlatformSettings

logging.getLogger().setLevel(logging.INFO)


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    platform = PlatformSettings.from_env(os.environ)
    phase = event.get("phase")
    if phase == "prepare":
        margin = int(os.environ.get("DTRAIN_WAIT_MARGIN_S", DEFAULT_MARGIN_S))
        return prepare(event.get("spec") or {}, platform, region=_region(), margin_s=margin)
    if phase in ("submit", "process"):  # process: the spec's processing job, before training
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
        logging.info('{"job_name": "%s", "adopted": %s}', result.job_name, str(result.adopted).lower())
        return {"job_name": result.job_name, "adopted": result.adopted}
    if phase in ("model", "deploy", "transform"):
        hosting = HostingSubmitter(
            ledger=Ledger(os.environ["LEDGER_TABLE"]),
            sagemaker=sagemaker_client(_region()),
            sfn=boto3.client("stepfunctions"),
            platform=platform,
            region=_region(),
        )
        step = {"model": hosting.create_model, "deploy": hosting.deploy, "transform": hosting.transform}
        out = step[phase](HostingRequest.from_event(event))
        logging.info('{"phase": "%s", "result": %s}', phase, json.dumps(out))
        return out
    raise InvalidEvent(
        f"unknown phase {phase!r}; expected prepare, process, submit, model, deploy or transform"
    )
