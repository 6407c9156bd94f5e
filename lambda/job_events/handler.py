"""Job-events Lambda: SageMaker Training Job State Change -> SendTaskSuccess/Failure."""

from __future__ import annotations

import os
from typing import Any

import boto3

from dtrain.orchestration import observability
from dtrain.orchestration.events import handle_job_event
from dtrain.orchestration.ledger import Ledger

instruments = observability.Instruments("job_events")
log = instruments.logger


@instruments.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    result = handle_job_event(
        event, ledger=Ledger(os.environ["LEDGER_TABLE"]), sfn=boto3.client("stepfunctions")
    )
    job = (event.get("detail") or {}).get("TrainingJobName")
    log.info("job event", extra={"job_name": job, "result": result})
    return {"job_name": str(job), "result": result}
