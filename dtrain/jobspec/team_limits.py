"""A team's guardrails as the platform settings carry them (issue 29): what its jobs may ask for.

The platform team sets them per team in cdk.json (`teams.<team>.instance_types`, ...:
dtrain.config.TeamConfig, which validates them); the orchestration stack writes the team's into
its PlatformSettings (`"guardrails": {...}`), where `dtrain validate --platform`, `dtrain submit`
and the Submit Lambda's Prepare read them (dtrain.requests.team_guardrails refuses a request past
them), and the team's Deny statements (dtrain.constructs.team_guardrails) hold the same limits
in IAM. A field left out is no limit of the platform's own. The stack's settings of a platform
with teams are a base holding every team's (`"team_guardrails": {"vision": {...}}`);
PlatformSettings.for_team gives the team's own settings, whose `guardrails` are its limits.

The spec core cannot import dtrain.config (sibling layers), so the fields are repeated here; the
construct builds one from the other (from_team_fields) and a test holds the two field lists equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from dtrain.jobspec.errors import ErrorCollector

_FIELD = "platform.guardrails"


@dataclass(frozen=True)
class TeamLimits:
    """- `instance_types`: the types a training or processing job may use (empty: any);
    - `max_instance_count`: the most instances one job may ask for (all its groups together);
    - `max_run_seconds`: the longest MaxRuntimeInSeconds (a spec's `max_run`);
    - `max_warm_pool_seconds`: the longest KeepAlivePeriodInSeconds; 0 forbids a warm pool;
    - `quota_instances`: instances the team's running jobs may hold at once (more waits);
    - `spot_required`: every training job uses managed spot training."""

    instance_types: tuple[str, ...] = ()
    max_instance_count: int | None = None
    max_run_seconds: int | None = None
    max_warm_pool_seconds: int | None = None
    quota_instances: int | None = None
    spot_required: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "instance_types", tuple(self.instance_types))

    @property
    def any(self) -> bool:
        """Some limit is set (False: the platform adds nothing to SageMaker's own limits)."""
        return self != TeamLimits()

    def to_dict(self) -> dict[str, Any]:
        """The limits that are set, as the platform settings JSON holds them."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_team_fields(cls, team: Any) -> TeamLimits:
        """From anything with TeamConfig's fields (the construct passes a TeamConfig)."""
        return cls(**{f.name: getattr(team, f.name) for f in fields(cls)})

    @classmethod
    def parse(cls, value: object, errors: ErrorCollector, where: str = _FIELD) -> TeamLimits | None:
        """From the settings JSON; every bad value added to `errors` (then None), named under
        `where` (`platform.guardrails`, `platform.team_guardrails.<team>`)."""
        if not isinstance(value, Mapping):
            errors.add(where, value, "must be an object of the team's limits")
            return None
        known = {f.name for f in fields(cls)}
        ok = True
        for key in value:
            if key not in known:
                errors.add(f"{where}.{key}", value[key], f"unknown guardrail; known: {sorted(known)}")
                ok = False
        types = value.get("instance_types", [])
        if not isinstance(types, list | tuple) or not all(isinstance(t, str) for t in types):
            errors.add(f"{where}.instance_types", types, "must be a list of instance types")
            ok = False
        for name in ("max_instance_count", "max_run_seconds", "max_warm_pool_seconds", "quota_instances"):
            number = value.get(name)
            if number is not None and (isinstance(number, bool) or not isinstance(number, int) or number < 0):
                errors.add(f"{where}.{name}", number, "must be a whole number of at least 0, or null")
                ok = False
        spot = value.get("spot_required", False)
        if not isinstance(spot, bool):
            errors.add(f"{where}.spot_required", spot, "must be true or false")
            ok = False
        if not ok:
            return None
        return cls(
            instance_types=tuple(types),
            max_instance_count=value.get("max_instance_count"),
            max_run_seconds=value.get("max_run_seconds"),
            max_warm_pool_seconds=value.get("max_warm_pool_seconds"),
            quota_instances=value.get("quota_instances"),
            spot_required=spot,
        )
