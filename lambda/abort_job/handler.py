"""Abort Lambda: an execution ended (any status) -> StopTrainingJob for its jobs still running."""

from __future__ import annotations

import logging
import os
from typing import Any

import boto3

from dtrain.orchestration.events import handle_execution_end
from dtrain.orchestration.ledger import Ledger

logging.getLogger().setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    stopped = handle_execution_end(
        event, ledger=Ledger(os.environ["LEDGER_TABLE"]), sagemaker=boto3.client("sagemaker")
    )
    logging.info("stopped jobs: %s", stopped)
    return {"stopped": stopped}
