"""Abort Lambda: an execution ended (any status) -> StopTrainingJob for its jobs still running."""

from __future__ import annotations

import os
from typing import Any

from dtrain.orchestration import observability
from dtrain.orchestration.environment_clients import EnvironmentClients
from dtrain.orchestration.events import handle_execution_end
from dtrain.orchestration.payloads import parse_execution_status_change

instruments = observability.Instruments("abort_job")
log = instruments.logger
# Made once per execution environment, on first use (dtrain.orchestration.environment_clients).
clients = EnvironmentClients()


@instruments.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    change = parse_execution_status_change(event)
    observability.correlate(execution_name=change.execution_name)
    stopped = handle_execution_end(
        change, ledger=clients.ledger(os.environ["LEDGER_TABLE"]), sagemaker=clients.client("sagemaker")
    )
    log.info("stopped the execution's jobs", extra={"stopped": stopped})
    return {"stopped": stopped}
