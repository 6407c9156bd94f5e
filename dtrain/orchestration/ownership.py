"""Who owns what Submit creates: the execution (retries adopt) and the team (no team writes over
another's).

Submit tags every job and hosting resource with the owning execution (`dtrain:execution`) and
the owning team (`dtrain:team`, PlatformSettings.team), replacing any tag of those keys a spec
brings. An endpoint outlives its executions: a later deploy of the same `deploy.endpoint_name`
updates it, so before the `model` phase repacks or creates anything and before the `deploy`
phase creates a config or calls UpdateEndpoint, the endpoint's team tag is compared with the
caller's team (`check_endpoint_team`): another team's endpoint, or one dtrain did not create,
is refused with nothing written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from dtrain.jobspec.spec_rules import EXECUTION_TAG_KEY, TEAM_TAG_KEY
from dtrain.orchestration.errors import JobNameConflict

# An endpoint created before teams existed carries only the execution tag: it was the one
# (default) team's.
DEFAULT_TEAM = "default"


class EndpointOwnedElsewhere(JobNameConflict):
    """The endpoint a deploy names belongs to another team (or was not created by dtrain)."""


def owner_tags(tags: list[Mapping[str, str]], *, execution: str, team: str) -> list[dict[str, str]]:
    """`tags` without any `dtrain:execution` / `dtrain:team` of the spec's, then Submit's own."""
    kept = [dict(t) for t in tags if t.get("Key") not in (EXECUTION_TAG_KEY, TEAM_TAG_KEY)]
    return [*kept, {"Key": EXECUTION_TAG_KEY, "Value": execution}, {"Key": TEAM_TAG_KEY, "Value": team}]


def team_of(tags: list[Mapping[str, str]]) -> str | None:
    """The team a resource's tags name; None for a resource dtrain did not create."""
    values = {str(t.get("Key")): str(t.get("Value")) for t in tags}
    if TEAM_TAG_KEY in values:
        return values[TEAM_TAG_KEY]
    return DEFAULT_TEAM if EXECUTION_TAG_KEY in values else None


def _missing(err: ClientError) -> bool:
    # DescribeEndpoint of an endpoint that does not exist answers ValidationException
    # "Could not find endpoint".
    return str(err.response.get("Error", {}).get("Code", "")) in ("ValidationException", "ResourceNotFound")


def check_endpoint_team(sagemaker: Any, endpoint_name: str, team: str) -> dict[str, Any] | None:
    """The endpoint's description when it exists and belongs to `team`, None when it does not
    exist; raises EndpointOwnedElsewhere for anyone else's."""
    try:
        current = dict(sagemaker.describe_endpoint(EndpointName=endpoint_name))
    except ClientError as err:
        if not _missing(err):
            raise
        return None
    tags = sagemaker.list_tags(ResourceArn=str(current.get("EndpointArn", ""))).get("Tags", [])
    owner = team_of(tags)
    if owner != team:
        whose = f"team {owner}" if owner is not None else "no dtrain team (not created by dtrain)"
        raise EndpointOwnedElsewhere(
            f"endpoint {endpoint_name} belongs to {whose}; team {team} may not update it:"
            " choose another deploy.endpoint_name"
        )
    return current
