"""A team's quota: the instances its running jobs may hold at once (issue 29).

A team with `quota_instances` (dtrain.config.TeamConfig; the Submit Lambda reads it from the
team's PlatformSettings.guardrails) holds capacity for each training or processing job before
Submit creates it and gives it back when the job ends. A job that would take the team past its
quota is not created: Submit raises CapacityWait, which the state machine retries with a capped
backoff (the same wait an account's ResourceLimitExceeded gets, dtrain.orchestration.capacity),
so the job starts once the team's earlier jobs end. Each team has its own count: a team never
waits because another team is busy, and one team's stream of jobs cannot take capacity the
others' quotas leave them (quotas whose sum fits the account's quota never starve a team).

The count is one item of the ledger table per team (key `<prefix>-<team>#capacity`; `#` is in no
job name, so no job row shares it), holding `held` (instances) and `holders` (job name ->
instances). Taking and giving back are each ONE conditional UpdateItem of that item, so
concurrent Submits (a sweep's Map starts its items within milliseconds) never pass the quota
together and a job is counted at most once:

    hold:    SET held = held + :n, holders.#job = :n
             IF held <= :quota_minus_n AND attribute_not_exists(holders.#job)
    release: SET held = held - :n REMOVE holders.#job      IF holders.#job = :n

A DynamoDB condition cannot add, so `held + n <= quota` is written `held <= quota - n` with the
subtraction done here. The job's ledger row names the count it holds (`capacity_key`), written
before the hold; the ledger releases when it records a final status for the row (Completed,
Failed, Stopped, Abandoned: dtrain.orchestration.ledger), whichever Lambda records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The ledger row attribute naming the count a job holds capacity in.
CAPACITY_KEY_ATTRIBUTE = "capacity_key"
# The count items' attributes; an item with HOLDERS is a count, not a job row.
HELD = "held"
HOLDERS = "holders"
_SUFFIX = "#capacity"


def capacity_key(team_resource_prefix: str) -> str:
    """The team's count item: `<prefix>-<team>#capacity`."""
    return f"{team_resource_prefix}{_SUFFIX}"


def is_capacity_item(item: Mapping[str, Any]) -> bool:
    """A count item of the ledger table (readers of job rows skip it)."""
    return HOLDERS in item


def request_instances(operation: str, request: Mapping[str, Any]) -> int:
    """The instances a create asks for: every instance group's, or the cluster's."""
    if operation == "CreateProcessingJob":
        return int(
            ((request.get("ProcessingResources") or {}).get("ClusterConfig") or {}).get("InstanceCount") or 0
        )
    resources = request.get("ResourceConfig") or {}
    groups = resources.get("InstanceGroups") or []
    if groups:
        return sum(int(g.get("InstanceCount") or 0) for g in groups)
    return int(resources.get("InstanceCount") or 0)


def _conditional_failed(err: Exception) -> bool:
    """DynamoDB refused a write on its condition (a botocore ClientError of that code). Read off
    the error, not by its class: `dtrain list` imports this module and loads no botocore."""
    code = getattr(err, "response", {}).get("Error", {}).get("Code")
    return str(code) == "ConditionalCheckFailedException"


class TeamCapacity:
    """One team's count in the ledger table (low-level DynamoDB client, as Ledger)."""

    def __init__(self, client: Any, table_name: str, key: str, quota: int) -> None:
        self._ddb, self.table_name, self.key, self.quota = client, table_name, key, quota

    def _ensure(self) -> None:
        """Create the count item once (a map attribute must exist before a path into it is set)."""
        try:
            self._ddb.put_item(
                TableName=self.table_name,
                Item={"job_name": {"S": self.key}, HELD: {"N": "0"}, HOLDERS: {"M": {}}},
                ConditionExpression="attribute_not_exists(job_name)",
            )
        except Exception as err:
            if not _conditional_failed(err):
                raise

    def holders(self) -> dict[str, int]:
        out = self._ddb.get_item(
            TableName=self.table_name, Key={"job_name": {"S": self.key}}, ConsistentRead=True
        )
        held = (out.get("Item") or {}).get(HOLDERS, {}).get("M", {})
        return {job: int(v["N"]) for job, v in held.items()}

    def hold(self, job_name: str, instances: int) -> bool:
        """Take `instances` for `job_name`: True when held (now or already: a retried Submit),
        False when the team's running jobs leave too few."""
        self._ensure()
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key={"job_name": {"S": self.key}},
                UpdateExpression=f"SET {HELD} = {HELD} + :n, {HOLDERS}.#job = :n",
                ConditionExpression=f"{HELD} <= :room AND attribute_not_exists({HOLDERS}.#job)",
                ExpressionAttributeNames={"#job": job_name},
                ExpressionAttributeValues={
                    ":n": {"N": str(instances)},
                    ":room": {"N": str(self.quota - instances)},
                },
            )
        except Exception as err:
            if not _conditional_failed(err):
                raise
            return job_name in self.holders()  # held already (a retry), or no room
        return True


def release(client: Any, table_name: str, key: str, job_name: str) -> bool:
    """Give back what `job_name` holds in count `key`; False when it held nothing (released
    already: a duplicate event, reconcile after the event)."""
    try:
        current = client.get_item(TableName=table_name, Key={"job_name": {"S": key}}, ConsistentRead=True)
        held = (current.get("Item") or {}).get(HOLDERS, {}).get("M", {}).get(job_name)
        if held is None:
            return False
        client.update_item(
            TableName=table_name,
            Key={"job_name": {"S": key}},
            UpdateExpression=f"SET {HELD} = {HELD} - :n REMOVE {HOLDERS}.#job",
            ConditionExpression=f"{HOLDERS}.#job = :n",
            ExpressionAttributeNames={"#job": job_name},
            ExpressionAttributeValues={":n": held},
        )
    except Exception as err:
        if _conditional_failed(err):
            return False
        raise
    return True
