"""A team's spec may not name another team's data, model, endpoint or role (issue 29).

On a platform with teams (dtrain.team_names) every team's resources carry its name: S3 keys under
`teams/<team>/`, SageMaker names and IAM roles `<prefix>-<team>-...`. IAM already keeps a team
out of the others' (its execution role reads and writes only its own prefix; Submit passes only
the team's role); this check refuses such a spec up front, in Prepare (and `validate --platform`
with a team's settings), with one line naming the field, instead of a job that fails later on
AccessDenied or an endpoint step that fails on ownership. Every string of the spec is looked at,
so a new spec field that names an S3 URI, an ARN or a resource name is covered without a list to
keep up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from dtrain import team_names
from dtrain.jobspec.errors import SpecError
from dtrain.jobspec.platform import PlatformSettings


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _other_team_named(text: str, platform: PlatformSettings) -> tuple[str, str] | None:
    """(the other team, what of it) when `text` names another team's S3 prefix or resource."""
    base_prefix = platform.job_name_prefix.removesuffix(f"-{platform.team}")
    lowered = text.lower()
    for other in platform.teams:
        if other == platform.team:
            continue
        if re.search(rf"^s3://[^/]+/{re.escape(team_names.s3_prefix(other))}", text):
            return other, "data"
        if team_names.execution_role_name(base_prefix, other) in lowered and ":role/" in lowered:
            return other, "role"
        # `<prefix>-<other>` as a whole name or a name's head (`<prefix>-<other>-...`): its jobs,
        # models, endpoint configs and endpoints, by name or ARN.
        resource = re.escape(team_names.resource_prefix(base_prefix, other))
        if re.search(rf"(^|[/:]){resource}($|-)", lowered):
            return other, "resource"
    return None


def check_team_reach(spec: Any, platform: PlatformSettings) -> None:
    """SpecError naming the first field of `spec` (the raw spec object) that names another team's
    data, role or SageMaker resource; nothing on a platform without teams or unscoped settings."""
    if not platform.team_scoped:
        return
    for path, text in _strings(spec, ""):
        found = _other_team_named(text, platform)
        if found is not None:
            other, what = found
            raise SpecError(
                path or "spec",
                text,
                f"names team {other}'s {what}; this execution runs for team {platform.team}, "
                f"which may use only its own (s3 keys under {team_names.s3_prefix(platform.team)}, "
                f"names {platform.job_name_prefix}-*)",
            )
