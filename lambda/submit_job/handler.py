"""Submit Lambda: `phase: prepare` validates and plans; `phase: process` creates the processing
job, `phase: submit` the training job; `phase: model | deploy | transform` host the trained
model (dtrain.orchestration.hosting).

Thin: parses the event into its typed payload (dtrain.orchestration.payloads), builds clients
from the environment, calls dtrain.orchestration.
"""

from __future__ import annotations

import os
from typing import Any

from dtrain.jobspec.platform import PlatformSettings
from dtrain.orchestration import observability
from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.environment_clients import EnvironmentClients
from dtrain.orchestration.hosting import HostingRequest, HostingSubmitter
from dtrain.orchestration.observability import Metric
from dtrain.orchestration.payloads import HostingPayload, PreparePayload, SubmitPayload, parse_submit_event
from dtrain.orchestration.submit import (
    SubmitRequest,
    Submitter,
    platform_for_team,
    prepare,
    sagemaker_client,
    sagemaker_create_client,
)
from dtrain.orchestration.timeouts import DEFAULT_MARGIN_S

instruments = observability.Instruments("submit_job")
log = instruments.logger
# Made once per execution environment, on first use (dtrain.orchestration.environment_clients).
clients = EnvironmentClients()


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def _sagemaker() -> Any:
    """SageMaker with botocore's standard retries (dtrain.orchestration.submit.sagemaker_client)."""
    return clients.get("sagemaker", lambda session: sagemaker_client(_region(), session))


@instruments.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = parse_submit_event(event)
    # A platform with teams: the team of the state machine that runs the execution (its literal).
    platform = platform_for_team(PlatformSettings.from_env(os.environ), payload.team)
    if isinstance(payload, PreparePayload):
        margin = int(os.environ.get("DTRAIN_WAIT_MARGIN_S", DEFAULT_MARGIN_S))
        return prepare(payload.spec, platform, region=_region(), margin_s=margin)
    if isinstance(payload, SubmitPayload):  # process: the spec's processing job, before training
        return _submit(payload, platform)
    return _host(payload, platform)  # after training: dtrain.orchestration.hosting


def _submit(payload: SubmitPayload, platform: PlatformSettings) -> dict[str, Any]:
    observability.correlate(**payload.correlation())
    submitter = Submitter(
        ledger=clients.ledger(os.environ["LEDGER_TABLE"]),
        sagemaker=_sagemaker(),
        sagemaker_create=clients.get(
            "sagemaker-create", lambda session: sagemaker_create_client(_region(), session)
        ),
        sfn=clients.client("stepfunctions"),
        platform=platform,
        region=_region(),
        backoff=BackoffPolicy.from_env(os.environ),
    )
    result = submitter.submit(SubmitRequest.from_payload(payload))
    observability.count(Metric.SUBMISSIONS)
    if result.adopted:
        observability.count(Metric.ADOPTIONS)
    log.info("job submitted", extra={"phase": payload.phase, "adopted": result.adopted})
    return {"job_name": result.job_name, "adopted": result.adopted}


def _host(payload: HostingPayload, platform: PlatformSettings) -> dict[str, Any]:
    observability.correlate(**payload.correlation())
    hosting = HostingSubmitter(
        ledger=clients.ledger(os.environ["LEDGER_TABLE"]),
        sagemaker=_sagemaker(),
        sfn=clients.client("stepfunctions"),
        platform=platform,
        region=_region(),
        s3=clients.client("s3"),
    )
    step = {"model": hosting.create_model, "deploy": hosting.deploy, "transform": hosting.transform}
    out = step[payload.phase](HostingRequest.from_payload(payload))
    log.info("hosting step", extra={"phase": payload.phase, **out})
    return out
