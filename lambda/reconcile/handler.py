"""Reconcile Lambda (every 5 minutes): closes tokens whose job ended without an event."""

from __future__ import annotations

import logging
import os
from typing import Any

import boto3

from dtrain.orchestration.events import reconcile
from dtrain.orchestration.ledger import Ledger

logging.getLogger().setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = reconcile(
        ledger=Ledger(os.environ["LEDGER_TABLE"]),
        sagemaker=boto3.client("sagemaker"),
        sfn=boto3.client("stepfunctions"),
    )
    logging.info("reconcile: %s", report.to_json())
    return report.to_json()
