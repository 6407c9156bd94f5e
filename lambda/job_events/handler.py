"""Job-events Lambda: a SageMaker job or endpoint state change -> SendTaskSuccess/Failure."""

from __future__ import annotations

import os
from typing import Any

from dtrain.orchestration import observability
from dtrain.orchestration.environment_clients import EnvironmentClients
from dtrain.orchestration.events import handle_job_event
from dtrain.orchestration.payloads import parse_sagemaker_state_change

instruments = observability.Instruments("job_events")
log = instruments.logger
# Made once per execution environment, on first use (dtrain.orchestration.environment_clients).
clients = EnvironmentClients()


@instruments.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    change = parse_sagemaker_state_change(event)
    result = handle_job_event(
        change, ledger=clients.ledger(os.environ["LEDGER_TABLE"]), sfn=clients.client("stepfunctions")
    )
    # The job's (or endpoint's) name as its kind's detail gives it (TrainingJobName,
    # ProcessingJobName, EndpointName, ...).
    log.info("job event", extra={"job_name": change.resource_name, "result": result})
    return {"job_name": change.resource_name, "result": result}
