"""Reconcile Lambda (every 5 minutes): answers tokens of jobs whose event was lost, stops jobs
that outlive their execution, abandons rows whose job was never created."""

from __future__ import annotations

import os
from typing import Any

from dtrain.orchestration import observability
from dtrain.orchestration.environment_clients import EnvironmentClients
from dtrain.orchestration.events import DEFAULT_SUBMIT_GRACE_S, reconcile

instruments = observability.Instruments("reconcile")
log = instruments.logger
# Made once per execution environment, on first use (dtrain.orchestration.environment_clients).
clients = EnvironmentClients()


@instruments.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = reconcile(
        ledger=clients.ledger(os.environ["LEDGER_TABLE"]),
        sagemaker=clients.client("sagemaker"),
        sfn=clients.client("stepfunctions"),
        submit_grace_s=float(os.environ.get("DTRAIN_SUBMIT_GRACE_S", DEFAULT_SUBMIT_GRACE_S)),
    )
    log.info("reconciled", extra=report.to_json())
    return report.to_json()
