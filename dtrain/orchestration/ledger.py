"""The job ledger: one DynamoDB row per SageMaker job (training, processing, transform) or
endpoint deployment the platform waits on, keyed by its name (a deployment by the endpoint
config it deploys: `resource_name` is the endpoint, whose name outlives executions).

The row holds the Step Functions task token (tokens go here, never in tags or
hyperparameters: tags hold 256 characters, tokens up to 2048), the execution that owns the
job, the spec digest and the job's last known status. `token_state` says whether the
execution is still waiting on the token ("OPEN") or it has been answered ("CLOSED").
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from dtrain.orchestration.team_capacity import CAPACITY_KEY_ATTRIBUTE, is_capacity_item, release

BY_EXECUTION_INDEX = "by_execution"
# A sparse index of the rows reconcile watches (an open token, or a job that may still run):
# WATCH_ATTRIBUTE is written while a row is watched and removed when it is not, so the index
# holds only those rows and reconcile queries them instead of scanning the whole ledger
# ("Take advantage of sparse indexes", DynamoDB Developer Guide). Its reads are eventually
# consistent: a row written a moment ago shows at the next run (every 5 minutes), and one closed
# a moment ago is described once more, which the conditional writes make harmless.
# Rows written before the index existed carry no attribute: they close through their events.
OPEN_ROWS_INDEX = "open_rows"
WATCH_ATTRIBUTE = "reconcile_watch"
WATCHED = "1"
OPEN = "OPEN"
CLOSED = "CLOSED"
SUBMITTING = "Submitting"
STOPPING = "Stopping"
# Submit's row of a job that was never created (its execution ended before CreateTrainingJob).
ABANDONED = "Abandoned"
# The statuses of a job that may still run: reconcile watches its row even with the token closed.
WATCHED_STATUSES = (SUBMITTING, "InProgress", STOPPING)
# Finished rows stay readable for `dtrain list` for this long, then DynamoDB's TTL drops them.
FINISHED_ROW_TTL_S = 90 * 24 * 3600


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LedgerRow:
    job_name: str
    execution_arn: str
    execution_name: str
    item_index: int
    task_token: str
    token_state: str
    status: str
    spec_digest: str
    spec_summary: str
    created_at: str
    updated_at: str
    failure_reason: str | None = None
    expires_at: int | None = None
    # $$.Execution.StartTime: an execution name (and so its ARN) may be used again after 90
    # days; the start time tells the two executions apart.
    execution_start: str = ""
    # dtrain.orchestration.job_kinds: which Describe/Stop call the job needs. Rows written
    # before processing jobs existed have none: training.
    kind: str = "training"
    # The SageMaker resource the row follows when it is not the key itself (an endpoint).
    resource_name: str = ""
    # $$.Execution.RedriveCount of the attempt that wrote the row (absent: 0, the first).
    redrive_count: int = 0

    @property
    def resource(self) -> str:
        return self.resource_name or self.job_name

    @property
    def is_open(self) -> bool:
        return self.token_state == OPEN

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> LedgerRow:
        def s(key: str, default: str = "") -> str:
            value = item.get(key)
            return str(value["S"]) if value and "S" in value else default

        def n(key: str) -> int | None:
            value = item.get(key)
            return int(value["N"]) if value and "N" in value else None

        return cls(
            job_name=s("job_name"),
            execution_arn=s("execution_arn"),
            execution_name=s("execution_name"),
            item_index=n("item_index") or 0,
            task_token=s("task_token"),
            token_state=s("token_state", CLOSED),
            status=s("status"),
            spec_digest=s("spec_digest"),
            spec_summary=s("spec_summary"),
            created_at=s("created_at"),
            updated_at=s("updated_at"),
            failure_reason=s("failure_reason") or None,
            expires_at=n("expires_at"),
            execution_start=s("execution_start"),
            kind=s("kind", "training"),
            resource_name=s("resource_name"),
            redrive_count=n("redrive_count") or 0,
        )


class RowExists(Exception):
    """put_submitted found a row under that job name already."""

    def __init__(self, row: LedgerRow) -> None:
        super().__init__(f"ledger already holds {row.job_name} (execution {row.execution_arn})")
        self.row = row


class Ledger:
    """Typed access to the ledger table (low-level client: no resource layer in Lambdas)."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._ddb = client if client is not None else boto3.client("dynamodb")
        # Items DynamoDB read for the scans and queries of this object (ScannedCount): what a
        # read costs, whatever the filter kept.
        self.items_read = 0

    @property
    def client(self) -> Any:
        """The DynamoDB client (the team counts of dtrain.orchestration.team_capacity share it)."""
        return self._ddb

    # -- writes -------------------------------------------------------------------------
    def put_submitted(
        self,
        *,
        job_name: str,
        execution_arn: str,
        execution_name: str,
        task_token: str,
        spec_digest: str,
        spec_summary: str,
        item_index: int = 0,
        execution_start: str = "",
        kind: str = "training",
        resource_name: str = "",
        redrive_count: int = 0,
    ) -> LedgerRow:
        """Record a job before it is created, so an event for it always finds its token."""
        now = utc_now_iso()
        item = {
            "job_name": {"S": job_name},
            "execution_arn": {"S": execution_arn},
            "execution_name": {"S": execution_name},
            "item_index": {"N": str(item_index)},
            "task_token": {"S": task_token},
            "token_state": {"S": OPEN},
            "status": {"S": SUBMITTING},
            "spec_digest": {"S": spec_digest},
            "spec_summary": {"S": spec_summary},
            "created_at": {"S": now},
            "updated_at": {"S": now},
            WATCH_ATTRIBUTE: {"S": WATCHED},
        }
        if execution_start:
            item["execution_start"] = {"S": execution_start}
        if kind != "training":
            item["kind"] = {"S": kind}
        if resource_name:
            item["resource_name"] = {"S": resource_name}
        if redrive_count:
            item["redrive_count"] = {"N": str(redrive_count)}
        try:
            self._ddb.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(job_name)",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            existing = self.get(job_name)
            if existing is None:  # deleted in between: extremely unlikely, let the caller retry
                raise
            raise RowExists(existing) from err
        return LedgerRow.from_item(item)

    def adopt(self, job_name: str, task_token: str) -> None:
        """Hand a (re)tried Submit's fresh token to an existing row and reopen it."""
        self._ddb.update_item(
            TableName=self.table_name,
            Key={"job_name": {"S": job_name}},
            UpdateExpression="SET task_token = :t, token_state = :o, updated_at = :u, "
            + f"{WATCH_ATTRIBUTE} = :w",
            ExpressionAttributeValues={
                ":t": {"S": task_token},
                ":o": {"S": OPEN},
                ":u": {"S": utc_now_iso()},
                ":w": {"S": WATCHED},
            },
        )

    def set_status(self, job_name: str, status: str, *, only_if_open: bool = False) -> None:
        """Record a job's latest status; with only_if_open, never overwrite a closed row's.

        The row stays in the open-rows index while its token is open or the status says the job
        may still run; a final status on a closed row takes it out. Which one the row is, only
        DynamoDB knows at write time: each branch is a write conditioned on the token's state."""
        values: dict[str, Any] = {":s": {"S": status}, ":u": {"S": utc_now_iso()}, ":o": {"S": OPEN}}
        watch = {":w": {"S": WATCHED}}
        set_status = "SET #s = :s, updated_at = :u"
        attempts = [(f"{set_status}, {WATCH_ATTRIBUTE} = :w", "token_state = :o", watch)]
        if not only_if_open:
            closed = "attribute_not_exists(token_state) OR token_state <> :o"
            if status in WATCHED_STATUSES:
                attempts.append((f"{set_status}, {WATCH_ATTRIBUTE} = :w", closed, watch))
            else:
                attempts.append((f"{set_status} REMOVE {WATCH_ATTRIBUTE}", closed, {}))
        for _ in range(3):  # the token may be reopened (adopt) or closed between two attempts
            for update, condition, extra in attempts:
                try:
                    out = self._ddb.update_item(
                        TableName=self.table_name,
                        Key={"job_name": {"S": job_name}},
                        UpdateExpression=update,
                        ConditionExpression=condition,
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={**values, **extra},
                        ReturnValues="ALL_NEW",
                    )
                    self._release_if_done(job_name, status, out.get("Attributes") or {})
                    return
                except ClientError as err:
                    if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
            if only_if_open:
                return  # a closed row keeps its status

    def mark_closed(
        self,
        job_name: str,
        status: str,
        *,
        task_token: str | None = None,
        failure_reason: str | None = None,
        now: float | None = None,
    ) -> bool:
        """Close the row's token and record the final status; False if it was closed already.

        With `task_token`, the row is only closed while it still holds that token, so a
        token handed to a retried Submit in the meantime is not closed by a stale answer.
        """
        expires = int((now if now is not None else time.time()) + FINISHED_ROW_TTL_S)
        values: dict[str, Any] = {
            ":c": {"S": CLOSED},
            ":o": {"S": OPEN},
            ":s": {"S": status},
            ":u": {"S": utc_now_iso()},
            ":e": {"N": str(expires)},
        }
        update = "SET token_state = :c, #s = :s, updated_at = :u, expires_at = :e REMOVE task_token"
        if status in WATCHED_STATUSES:  # closed, but its job may still run: reconcile watches it
            update = update.replace(" REMOVE", f", {WATCH_ATTRIBUTE} = :w REMOVE")
            values[":w"] = {"S": WATCHED}
        else:
            update += f", {WATCH_ATTRIBUTE}"
        if failure_reason:
            update = update.replace(" REMOVE", ", failure_reason = :f REMOVE")
            values[":f"] = {"S": failure_reason[:1024]}
        condition = "token_state = :o"
        if task_token is not None:
            condition += " AND task_token = :t"
            values[":t"] = {"S": task_token}
        try:
            out = self._ddb.update_item(
                TableName=self.table_name,
                Key={"job_name": {"S": job_name}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        self._release_if_done(job_name, status, out.get("Attributes") or {})
        return True

    def note_capacity(self, job_name: str, key: str) -> None:
        """Name on the row the team count (dtrain.orchestration.team_capacity) its job holds
        capacity in, before the hold: whichever Lambda records the job's final status releases it."""
        self._ddb.update_item(
            TableName=self.table_name,
            Key={"job_name": {"S": job_name}},
            UpdateExpression=f"SET {CAPACITY_KEY_ATTRIBUTE} = :k",
            ExpressionAttributeValues={":k": {"S": key}},
        )

    def release_capacity(self, job_name: str) -> bool:
        """Give back the row's job's hold now (its create was refused: no job will end to do it)."""
        row = self._ddb.get_item(
            TableName=self.table_name, Key={"job_name": {"S": job_name}}, ConsistentRead=True
        )
        key = (row.get("Item") or {}).get(CAPACITY_KEY_ATTRIBUTE, {}).get("S")
        return bool(key) and release(self._ddb, self.table_name, key, job_name)

    def _release_if_done(self, job_name: str, status: str, item: Mapping[str, Any]) -> None:
        """A final status (the job cannot run any more): its team's capacity goes back."""
        key = item.get(CAPACITY_KEY_ATTRIBUTE, {}).get("S")
        if key and status not in WATCHED_STATUSES:
            release(self._ddb, self.table_name, key, job_name)

    def record_result(self, job_name: str, result: Mapping[str, Any]) -> None:
        """Keep a finished job's full result (a sweep row carries only a summary of it)."""
        self._ddb.update_item(
            TableName=self.table_name,
            Key={"job_name": {"S": job_name}},
            UpdateExpression="SET #r = :r, updated_at = :u",
            ExpressionAttributeNames={"#r": "result"},
            ExpressionAttributeValues={
                ":r": {"S": json.dumps(result, separators=(",", ":"), default=str)},
                ":u": {"S": utc_now_iso()},
            },
        )

    # -- reads --------------------------------------------------------------------------
    def get(self, job_name: str) -> LedgerRow | None:
        out = self._ddb.get_item(
            TableName=self.table_name, Key={"job_name": {"S": job_name}}, ConsistentRead=True
        )
        item = out.get("Item")
        return LedgerRow.from_item(item) if item else None

    def find_by_execution(self, execution_arn: str) -> list[LedgerRow]:
        rows: list[LedgerRow] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": BY_EXECUTION_INDEX,
            "KeyConditionExpression": "execution_arn = :a",
            "ExpressionAttributeValues": {":a": {"S": execution_arn}},
        }
        while True:
            out = self._ddb.query(**kwargs)
            rows.extend(LedgerRow.from_item(i) for i in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return sorted(rows, key=lambda r: r.created_at)
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _scan(self, **filters: Any) -> Iterator[LedgerRow]:
        yield from self._read(self._ddb.scan, {"TableName": self.table_name, **filters})

    def _watched(self, **filters: Any) -> Iterator[LedgerRow]:
        """The rows of the open-rows index (only rows reconcile watches are in it)."""
        kwargs = {
            "TableName": self.table_name,
            "IndexName": OPEN_ROWS_INDEX,
            "KeyConditionExpression": f"{WATCH_ATTRIBUTE} = :w",
            **filters,
        }
        kwargs["ExpressionAttributeValues"] = {
            ":w": {"S": WATCHED},
            **filters.get("ExpressionAttributeValues", {}),
        }
        yield from self._read(self._ddb.query, kwargs)

    def _read(self, call: Any, kwargs: dict[str, Any]) -> Iterator[LedgerRow]:
        while True:
            out = call(**kwargs)
            self.items_read += int(out.get("ScannedCount", len(out.get("Items", []))))
            for item in out.get("Items", []):
                if not is_capacity_item(item):  # a team's count (team_capacity), not a job
                    yield LedgerRow.from_item(item)
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def active_rows(self) -> list[LedgerRow]:
        """Rows reconcile watches: an open token, or a job that may still run (its token closed
        by an abort that came while Submit was still creating it, say). A query of the sparse
        open-rows index: it reads these rows only, however many the ledger holds."""
        return list(
            self._watched(
                FilterExpression="token_state = :o OR #s IN (:submitting, :running, :stopping)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":o": {"S": OPEN},
                    ":submitting": {"S": SUBMITTING},
                    ":running": {"S": "InProgress"},
                    ":stopping": {"S": STOPPING},
                },
            )
        )

    def open_rows(self) -> list[LedgerRow]:
        """Rows whose execution still waits on a token (a query of the open-rows index)."""
        return list(
            self._watched(
                FilterExpression="token_state = :o",
                ExpressionAttributeValues={":o": {"S": OPEN}},
            )
        )

    def list_recent(self, status: str | None = None, since: str | None = None) -> list[LedgerRow]:
        """Rows newest first, optionally of one status and created at or after `since` (ISO)."""
        rows = [
            r
            for r in self._scan()
            if (status is None or r.status == status) and (since is None or r.created_at >= since)
        ]
        return sorted(rows, key=lambda r: r.created_at, reverse=True)
