"""What the deployed stack provides to every job: one typed object.

In AWS the Lambdas read it from one environment variable (`DTRAIN_PLATFORM`, the JSON the
stack writes); the CLI reads it from a file or from the stack's outputs. Everything a user
leaves out of a spec and the platform knows (role, buckets, VPC, packaged image URIs, file
systems, tags) comes from here, and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dtrain import team_names
from dtrain.jobspec.errors import ErrorCollector, SpecError
from dtrain.jobspec.team_limits import TeamLimits

PLATFORM_ENV_VAR = "DTRAIN_PLATFORM"
_FIELD = "platform"


def _frozen_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class PlatformSettings:
    region: str
    role_arn: str
    output_s3_uri: str
    checkpoint_s3_uri: str
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    # True: every job gets subnets/security_group_ids as VpcConfig (the platform's default).
    jobs_in_vpc: bool = True
    image_uris: Mapping[str, str] = field(default_factory=lambda: _frozen_map(None))
    fsx_id: str | None = None
    fsx_mount_name: str | None = None
    efs_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _frozen_map(None))
    environment: Mapping[str, str] = field(default_factory=lambda: _frozen_map(None))
    job_name_prefix: str = "dtrain"
    volume_kms_key_id: str | None = None
    output_kms_key_id: str | None = None
    # The data bucket the execution role may read (`s3://bucket`); `{"s3": "data", ...}` channels
    # resolve under it and the reach check (dtrain.jobspec.s3_reach) allows reads from it.
    data_s3_uri: str | None = None
    # The team these settings belong to: Submit tags what it creates with it (TEAM_TAG_KEY) and
    # will not write over an endpoint another team's tag names (dtrain.orchestration.ownership).
    team: str = "default"
    # The platform's teams (dtrain.team_names), when it has any: the settings the stack writes are
    # then a base that `for_team` turns into one team's (its role, prefixes and names).
    teams: tuple[str, ...] = ()
    # The guardrails of the settings' team (dtrain.jobspec.team_limits): validate, submit and
    # Prepare refuse a request past them (dtrain.requests.team_guardrails). The base settings of a
    # platform with teams hold every team's in `team_guardrails` (only teams with a limit set);
    # `for_team` picks the team's. Absent from the JSON: no limits, the settings as before teams.
    guardrails: TeamLimits = field(default_factory=TeamLimits)
    team_guardrails: Mapping[str, TeamLimits] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        # Frozen and hashable-by-identity: callers may share one instance across invocations.
        object.__setattr__(self, "subnets", tuple(self.subnets))
        object.__setattr__(self, "security_group_ids", tuple(self.security_group_ids))
        object.__setattr__(self, "teams", tuple(self.teams))
        object.__setattr__(self, "team_guardrails", MappingProxyType(dict(self.team_guardrails)))
        for name in ("image_uris", "tags", "environment"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))

    # -- teams ----------------------------------------------------------------------------

    @property
    def team_scoped(self) -> bool:
        """These are one team's settings of a platform with teams (`for_team`'s result)."""
        return self.team in self.teams

    @property
    def source_key_prefix(self) -> str:
        """Where in the artifacts bucket the CLI uploads an execution's sources: `teams/<team>/`
        (`teams/<team>/<execution>/source/...`), or the root for a platform without teams."""
        return team_names.s3_prefix(self.team if self.team_scoped else None)

    def for_team(self, team: str) -> PlatformSettings:
        """One team's settings from the platform's (what the stack writes): its execution role
        (`<prefix>-<team>-execution`), its output, checkpoint and data prefixes (`teams/<team>/`
        inserted after each bucket), its job-name prefix `<prefix>-<team>`. SpecError for a team
        the platform does not have."""
        if team not in self.teams:
            known = ", ".join(self.teams) or "none: this platform has no teams"
            raise SpecError("team", team, f"is not a team of this platform (teams: {known})")
        if self.team_scoped:
            raise SpecError("team", team, f"these settings are team {self.team}'s already")
        return replace(
            self,
            role_arn=team_names.role_arn(
                self.role_arn, team_names.execution_role_name(self.job_name_prefix, team)
            ),
            output_s3_uri=_under_team(self.output_s3_uri, team),
            checkpoint_s3_uri=_under_team(self.checkpoint_s3_uri, team),
            data_s3_uri=_under_team(self.data_s3_uri, team) if self.data_s3_uri else None,
            job_name_prefix=team_names.resource_prefix(self.job_name_prefix, team),
            team=team,
            guardrails=self.team_guardrails.get(team, TeamLimits()),
        )

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, TeamLimits):
                if not value.any:
                    continue  # no limits: the settings JSON of a platform without teams, as before
                value = value.to_dict()
            elif f.name == "team_guardrails":
                if not value:
                    continue
                value = {team: limits.to_dict() for team, limits in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PlatformSettings:
        """Typed, with every problem reported at once (`platform.<field>: value: rule`)."""
        errors = ErrorCollector()
        known = {f.name: f for f in fields(cls)}
        for key in data:
            if key not in known:
                errors.add(f"{_FIELD}.{key}", data[key], f"unknown platform setting; known: {sorted(known)}")
        kwargs: dict[str, Any] = {}
        for name in ("region", "role_arn", "output_s3_uri", "checkpoint_s3_uri"):
            value = data.get(name)
            if not isinstance(value, str) or not value:
                errors.add(f"{_FIELD}.{name}", value, "required, a non-empty string")
            else:
                kwargs[name] = value
        for name in (
            "fsx_id",
            "fsx_mount_name",
            "efs_id",
            "volume_kms_key_id",
            "output_kms_key_id",
            "data_s3_uri",
        ):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                errors.add(f"{_FIELD}.{name}", value, "must be a string or null")
            elif value:
                kwargs[name] = value
        _read_options(data, errors, kwargs)
        errors.raise_if_any()
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> PlatformSettings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(_FIELD, text[:80], f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(data, Mapping):
            raise SpecError(_FIELD, data, "must be a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> PlatformSettings:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PlatformSettings:
        """From `DTRAIN_PLATFORM` (the Lambdas' environment); a missing variable is an error."""

        text = environ.get(PLATFORM_ENV_VAR)
        if not text:
            raise SpecError(
                PLATFORM_ENV_VAR, text, "environment variable not set; it holds the platform JSON"
            )
        return cls.from_json(text)


def _under_team(uri: str, team: str) -> str:
    """`s3://bucket/key` -> `s3://bucket/teams/<team>/key` (`s3://bucket` -> `.../teams/<team>`)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return f"s3://{bucket}/{team_names.s3_prefix(team)}{key}".rstrip("/")


def _read_options(data: Mapping[str, object], errors: ErrorCollector, kwargs: dict[str, Any]) -> None:
    """PlatformSettings' optional typed settings (prefix, team, VPC, images, tags, environment)."""
    if "job_name_prefix" in data:
        value = data["job_name_prefix"]
        if not isinstance(value, str):
            errors.add(f"{_FIELD}.job_name_prefix", value, "must be a string")
        else:
            kwargs["job_name_prefix"] = value
    if "team" in data:
        value = data["team"]
        if not isinstance(value, str) or not value:
            errors.add(f"{_FIELD}.team", value, "must be a non-empty string")
        else:
            kwargs["team"] = value
    if "teams" in data:
        value = data["teams"]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
            errors.add(f"{_FIELD}.teams", value, "must be a list of team names")
        else:
            kwargs["teams"] = tuple(value)
    if "guardrails" in data:
        limits = TeamLimits.parse(data["guardrails"], errors)
        if limits is not None:
            kwargs["guardrails"] = limits
    if "team_guardrails" in data:
        by_team = data["team_guardrails"]
        if not isinstance(by_team, Mapping):
            errors.add(f"{_FIELD}.team_guardrails", by_team, "must be an object of each team's guardrails")
        else:
            parsed = {
                str(team): TeamLimits.parse(limits, errors, f"{_FIELD}.team_guardrails.{team}")
                for team, limits in by_team.items()
            }
            if all(limits is not None for limits in parsed.values()):
                kwargs["team_guardrails"] = parsed
    if "jobs_in_vpc" in data:
        value = data["jobs_in_vpc"]
        if not isinstance(value, bool):
            errors.add(f"{_FIELD}.jobs_in_vpc", value, "must be true or false")
        else:
            kwargs["jobs_in_vpc"] = value
    for name in ("subnets", "security_group_ids"):
        value = data.get(name, [])
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            errors.add(f"{_FIELD}.{name}", value, "must be a list of strings")
        else:
            kwargs[name] = tuple(value)
    for name in ("image_uris", "tags", "environment"):
        value = data.get(name, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            errors.add(f"{_FIELD}.{name}", value, "must be an object of strings")
        else:
            kwargs[name] = dict(value)
