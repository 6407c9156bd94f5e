"""Read-only view of the job ledger (the DynamoDB table the orchestration writes).

The schema is the agreed one (partition key `job_name`, GSI `by_execution` on
`execution_arn`, ISO 8601 UTC `created_at`/`updated_at`). The CLI only reads, so it needs
none of the writer's logic: this view turns items into typed rows and never writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dtrain.orchestration.team_capacity import is_capacity_item
from dtrain.remote.aws import translate_aws_errors
from dtrain.remote.errors import AwsCallFailed

EXECUTION_INDEX = "by_execution"


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 text (with Z, an offset, or naive meaning UTC) -> aware datetime."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LedgerRow:
    job_name: str
    status: str
    execution_arn: str | None = None
    execution_name: str | None = None
    token_state: str | None = None
    spec_digest: str | None = None
    spec_summary: Mapping[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    failure_reason: str | None = None
    # What the row follows (dtrain.orchestration.job_kinds): a training job, ..., a transform
    # job, or an endpoint deployment (keyed by its endpoint config; `resource_name` is the endpoint).
    kind: str = "training"
    resource_name: str | None = None

    @property
    def resource(self) -> str:
        return self.resource_name or self.job_name

    @property
    def created(self) -> datetime | None:
        return parse_time(self.created_at)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec_summary"] = dict(self.spec_summary)
        return data

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> LedgerRow:
        summary: Mapping[str, Any] = {}
        raw_summary = item.get("spec_summary")
        if isinstance(raw_summary, str) and raw_summary:
            try:
                parsed = json.loads(raw_summary)
            except ValueError:
                parsed = {"text": raw_summary}
            summary = parsed if isinstance(parsed, dict) else {"value": parsed}
        elif isinstance(raw_summary, Mapping):
            summary = raw_summary

        def text(key: str) -> str | None:
            value = item.get(key)
            return str(value) if value not in (None, "") else None

        return cls(
            job_name=str(item["job_name"]),
            status=text("status") or "Unknown",
            execution_arn=text("execution_arn"),
            execution_name=text("execution_name"),
            token_state=text("token_state"),
            spec_digest=text("spec_digest"),
            spec_summary=summary,
            created_at=text("created_at"),
            updated_at=text("updated_at"),
            failure_reason=text("failure_reason"),
            kind=text("kind") or "training",
            resource_name=text("resource_name"),
        )


class LedgerView:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._client = dynamodb_client
        self._table = table_name

    @staticmethod
    def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        return {key: deserializer.deserialize(value) for key, value in item.items()}

    def get(self, job_name: str) -> LedgerRow | None:
        with translate_aws_errors(f"read the job ledger {self._table}"):
            response = self._client.get_item(
                TableName=self._table, Key={"job_name": {"S": job_name}}, ConsistentRead=True
            )
        item = response.get("Item")
        return LedgerRow.from_item(self._plain(item)) if item else None

    def find_by_execution(self, execution_arn: str) -> list[LedgerRow]:
        """Every job of one execution (one, or one per entry of a sweep), oldest first."""
        rows: list[LedgerRow] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": EXECUTION_INDEX,
            "KeyConditionExpression": "execution_arn = :arn",
            "ExpressionAttributeValues": {":arn": {"S": execution_arn}},
        }
        with translate_aws_errors(f"query the job ledger {self._table}"):
            while True:
                response = self._client.query(**kwargs)
                rows.extend(LedgerRow.from_item(self._plain(i)) for i in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(rows, key=lambda r: (r.created_at or "", r.job_name))

    def _scan(self) -> Iterator[LedgerRow]:
        kwargs: dict[str, Any] = {"TableName": self._table}
        with translate_aws_errors(f"scan the job ledger {self._table}"):
            while True:
                response = self._client.scan(**kwargs)
                for item in response.get("Items", []):
                    if not is_capacity_item(item):  # a team's count of held instances, not a job
                        yield LedgerRow.from_item(self._plain(item))
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def list_recent(
        self, *, status: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[LedgerRow]:
        """Rows newest first, filtered by status (case-insensitive) and creation time.

        A scan: the ledger holds live and recently finished jobs only (finished rows expire by
        TTL), so it stays small; filtering here keeps time comparisons exact whatever ISO form
        the writer used.
        """
        wanted = status.lower() if status else None
        rows = [
            row
            for row in self._scan()
            if (wanted is None or row.status.lower() == wanted)
            and (since is None or (row.created is not None and row.created >= since))
        ]
        rows.sort(key=lambda r: r.created or datetime.min.replace(tzinfo=UTC), reverse=True)
        return rows[:limit] if limit else rows


_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


class TeamLedgerView(LedgerView):
    """The ledger as one team sees it (a platform with teams, issue 29): only rows of its own
    state machine's executions, and nothing at all for a caller the ledger refuses (a team's
    scientists' policy grants no ledger read: rows hold task tokens). The commands then work
    from the team's executions and SageMaker jobs instead (dtrain list: ListExecutions)."""

    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        state_machine_arn: str,
        history_rows: Callable[[str], list[LedgerRow]] | None = None,
    ) -> None:
        super().__init__(dynamodb_client, table_name)
        self._executions = state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"
        # An execution's jobs from its history when the ledger refuses (dtrain.remote.history_jobs).
        self._history_rows = history_rows

    def _mine(self, row: LedgerRow | None) -> bool:
        return row is not None and (row.execution_arn or "").startswith(self._executions)

    def _unless_denied(self, read: Any, empty: Any) -> Any:
        try:
            return read()
        except AwsCallFailed as exc:
            if any(code in str(exc) for code in _DENIED):
                return empty
            raise

    def get(self, job_name: str) -> LedgerRow | None:
        row = self._unless_denied(lambda: super(TeamLedgerView, self).get(job_name), None)
        return row if self._mine(row) else None

    def find_by_execution(self, execution_arn: str) -> list[LedgerRow]:
        if not execution_arn.startswith(self._executions):
            return []
        rows: list[LedgerRow] | None = self._unless_denied(
            lambda: super(TeamLedgerView, self).find_by_execution(execution_arn), None
        )
        if rows is None:  # refused: the execution's history names its jobs
            return self._history_rows(execution_arn) if self._history_rows is not None else []
        return rows

    def list_recent(
        self, *, status: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[LedgerRow]:
        rows: list[LedgerRow] = self._unless_denied(
            lambda: super(TeamLedgerView, self).list_recent(status=status, since=since), []
        )
        mine = [row for row in rows if self._mine(row)]
        return mine[:limit] if limit else mine
