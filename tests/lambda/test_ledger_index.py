"""Reconcile reads the ledger through a sparse index of the rows it watches (issue 26, risks:
"Reconcile scanning the whole ledger"): every row write keeps the index attribute in step with the
row's token and status, and reconcile's read costs the watched rows, not the ledger's size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dtrain.orchestration.ledger import (
    ABANDONED,
    OPEN_ROWS_INDEX,
    STOPPING,
    WATCH_ATTRIBUTE,
    Ledger,
)

SNAPSHOT = (
    Path(__file__).resolve().parents[1]
    / "stacks/__snapshots__/test_snapshots/test_stack_template_matches_snapshot[orchestration].json"
)
EXEC = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1"


def _put(ledger: Ledger, name: str, token: str = "tok") -> None:
    ledger.put_submitted(
        job_name=name,
        execution_arn=EXEC,
        execution_name="run-1",
        task_token=token,
        spec_digest="d",
        spec_summary="s",
    )


def _watched(ledger: Ledger) -> set[str]:
    return {r.job_name for r in ledger.active_rows()}


def test_the_stack_declares_the_index_the_ledger_queries() -> None:
    template = json.loads(SNAPSHOT.read_text())
    (table,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    indexes = {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}
    keys = indexes[OPEN_ROWS_INDEX]["KeySchema"]
    assert keys[0] == {"AttributeName": WATCH_ATTRIBUTE, "KeyType": "HASH"}
    assert indexes[OPEN_ROWS_INDEX]["Projection"] == {"ProjectionType": "ALL"}  # reconcile reads the row


def test_reconcile_reads_the_watched_rows_not_the_whole_ledger(ledger: Ledger) -> None:
    for i in range(60):
        _put(ledger, f"done-{i:02d}")
        ledger.mark_closed(f"done-{i:02d}", "Completed")
    _put(ledger, "running")
    ledger.set_status("running", "InProgress", only_if_open=True)
    _put(ledger, "submitting")
    _put(ledger, "being-stopped")
    ledger.mark_closed("being-stopped", STOPPING)  # token closed, job may still run: watched
    ledger.items_read = 0
    assert _watched(ledger) == {"running", "submitting", "being-stopped"}
    assert ledger.items_read == 3  # the scan it replaces read all 63
    ledger.items_read = 0
    assert len(list(ledger._scan())) == 63 and ledger.items_read == 63
    assert {r.job_name for r in ledger.open_rows()} == {"running", "submitting"}


def test_every_write_keeps_the_index_in_step_with_the_row(ledger: Ledger) -> None:
    _put(ledger, "j")
    assert _watched(ledger) == {"j"}
    ledger.set_status("j", "Completed", only_if_open=True)  # token still open: still watched
    assert _watched(ledger) == {"j"}
    ledger.mark_closed("j", STOPPING)  # an abort: the job may still run
    assert _watched(ledger) == {"j"}
    ledger.set_status("j", "Stopped")  # its final status on a closed row: out
    assert _watched(ledger) == set()
    ledger.adopt("j", "tok-2")  # a retried Submit reopens it: in again
    assert _watched(ledger) == {"j"}
    assert ledger.mark_closed("j", "Failed", task_token="tok-2", failure_reason="boom")
    assert _watched(ledger) == set()
    ledger.set_status("j", "InProgress")  # a closed row whose job runs again (reconcile saw it)
    assert _watched(ledger) == {"j"}
    ledger.set_status("j", ABANDONED)
    assert _watched(ledger) == set()
    row: Any = ledger.get("j")
    assert row.status == ABANDONED and not row.is_open
