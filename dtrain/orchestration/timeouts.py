"""The wait step's timeout, derived from the job's own limits.

SageMaker stops a job at MaxRuntimeInSeconds (MaxWaitTimeInSeconds for spot, which includes
waiting for capacity). Provisioning, downloading and uploading come on top, so the state
machine waits that long plus a margin before it gives up on the callback; reconcile normally
closes a lost event long before that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_MARGIN_S = 3600
# SageMaker's default MaxRuntimeInSeconds when a request leaves it out.
SAGEMAKER_DEFAULT_MAX_RUN_S = 86400
# Step Functions refuses task timeouts beyond one year.
STEP_FUNCTIONS_MAX_TIMEOUT_S = 365 * 24 * 3600


def wait_timeout_seconds(request: Mapping[str, Any], margin_s: int = DEFAULT_MARGIN_S) -> int:
    stopping = request.get("StoppingCondition") or {}
    max_run = int(stopping.get("MaxRuntimeInSeconds") or SAGEMAKER_DEFAULT_MAX_RUN_S)
    limit = max_run
    if request.get("EnableManagedSpotTraining"):
        limit = max(max_run, int(stopping.get("MaxWaitTimeInSeconds") or max_run))
    return min(limit + max(0, margin_s), STEP_FUNCTIONS_MAX_TIMEOUT_S)
