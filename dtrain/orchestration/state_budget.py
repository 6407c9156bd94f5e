"""How large a sweep's state gets in Step Functions, checked before any job is created.

Step Functions holds each state's input and output to 256 KiB ("Quotas related to state
throughput": maximum input or output size for a task, state, or execution, 256 KiB of data as
a UTF-8 encoded string, https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html);
past it the execution fails with States.DataLimitExceeded, which no Catch handles. A sweep's
state is largest around RankSweep: its input holds the plan (every item's overrides) and one
slim row per item; its output the plan without items and the ranked rows (each with its
overrides, rank and failure reason) with the notification. Prepare measures the plan, bounds
the rows by their largest possible size, and refuses a sweep whose bound passes the budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dtrain.jobspec.errors import SpecError
from dtrain.orchestration.sweep import FAILURE_REASON_CHARS

STATE_LIMIT_BYTES = 256 * 1024
# Kept free under the limit for what the bound does not count (the processing step's callback
# output beside the plan, a longer error name on a failed item): 10 % of the limit.
MARGIN_BYTES = STATE_LIMIT_BYTES // 10
BUDGET_BYTES = STATE_LIMIT_BYTES - MARGIN_BYTES
# The longest of each field a row can hold (dtrain.orchestration.finalize.slim_item_row and
# finalize_sweep): a 63-character job name, SageMaker's longest status, a float's longest repr,
# a failure reason cut to FAILURE_REASON_CHARS, the longest Lambda error name we raise.
_JOB_NAME = "j" * 63
_OBJECTIVE = -1.2345678901234567e-300
_MODEL = "/output/model.tar.gz"
# The notification: NOTIFIED_SWEEP_ROWS lines of (rank, job name, status, metric, value) and a
# console link; bounded generously.
_NOTIFICATION_BYTES = 4096


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str).encode("utf-8"))


def _slim_row(index: int, output_uri: str) -> dict[str, Any]:
    return {
        "index": index,
        "job_name": _JOB_NAME,
        "status": "InProgress",
        "objective": _OBJECTIVE,
        "model_artifact": f"{output_uri.rstrip('/')}/{_JOB_NAME}{_MODEL}",
        "model_usable": False,
        "error": "States.DataLimitExceeded",  # an ItemFailed row's error name, at its longest
    }


def projected_peak_bytes(plan: Mapping[str, Any], output_uri: str, metric: str) -> int:
    """The larger of RankSweep's input and output for this plan, rows at their longest."""
    items = list(plan.get("items") or [])
    slim = sum(_size(_slim_row(int(i.get("index", 0)), output_uri)) + 1 for i in items)
    ranked = sum(
        _size(
            {
                **_slim_row(int(i.get("index", 0)), output_uri),
                "overrides": i.get("overrides") or {},
                "rank": int(i.get("index", 0)) + 1,
                "failure_reason": "r" * FAILURE_REASON_CHARS,
            }
        )
        + 1
        for i in items
    )
    plan_bytes = _size({"plan": dict(plan)})
    without_items = _size({"plan": {k: v for k, v in plan.items() if k != "items"}})
    objective = _size({"objective": {"metric": metric, "goal": "minimize"}, "best": {}})
    rank_input = plan_bytes + _size({"sweep_results": []}) + slim
    rank_output = without_items + _size({"final": {"result": {"results": []}}}) + ranked
    rank_output += objective + ranked // max(len(items), 1) + _NOTIFICATION_BYTES  # `best` repeats a row
    return max(rank_input, rank_output)


def check_sweep_state(plan: Mapping[str, Any], output_uri: str) -> int:
    """The projected peak in bytes; SpecError when it passes BUDGET_BYTES."""
    if not plan.get("is_sweep"):
        return 0
    metric = str((plan.get("objective") or {}).get("metric") or "")
    peak = projected_peak_bytes(plan, output_uri, metric)
    if peak > BUDGET_BYTES:
        items = len(plan.get("items") or [])
        raise SpecError(
            "sweep.overrides",
            f"{items} items",
            f"the sweep's Step Functions state would reach {peak:,} bytes; the limit is "
            f"{STATE_LIMIT_BYTES:,} (256 KiB) and the platform keeps {MARGIN_BYTES:,} free: fewer "
            "items or shorter overrides (hyperparameters shared by every item belong in the estimator)",
        )
    return peak
