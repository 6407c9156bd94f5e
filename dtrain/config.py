"""The platform's typed, validated configuration, built from CDK context.

Every setting is a flat dotted key in `cdk.json` context (`"fsx.storage_capacity_gib": 1200`) so a
`-c fsx.storage_capacity_gib=2400` override replaces exactly one value. Values given with `-c`
arrive as strings; values in cdk.json arrive as JSON; `from_context` accepts both.

Validation collects every bad value in one pass and raises `ConfigErrors`; each `ConfigError`
names the key, the value and the rule, e.g.
`fsx.storage_capacity_gib: 1000 is not 1200, 2400 or a multiple of 2400`.

Teams (issue 29): `"teams": {"vision": {"instance_types": ["ml.g5.xlarge"], ...}}` in cdk.json,
or one field at a time as flat keys `teams.<team>.<field>` (`-c teams.vision.quota_instances=8`),
which go on top of the object. With no team configured the platform has one implicit team,
`default`, whose resources keep the names they had before teams existed (TeamConfig).

Standard library only: the CLI and the Lambda bundles import this module without the CDK.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import ipaddress
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from dtrain import team_names

DeploymentType = Literal["PERSISTENT_2", "SCRATCH_2"]
RemovalPolicyName = Literal["retain", "destroy"]

# Sections whose keys we own: a typo under one of them is an error, not silently ignored.
OWNED_SECTIONS = ("network.", "fsx.", "efs.", "storage.")
# The context key a platform team's app may nest dtrain's settings under (from_context).
NAMESPACE = "dtrain"

FSX_THROUGHPUT_PER_TIB = (125, 250, 500, 1000)
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_AZ_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d[a-z]$")
_VPC_RE = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_RTB_RE = re.compile(r"^rtb-[0-9a-f]{8,17}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,19}$")
_S3_PREFIX_RE = re.compile(r"^([A-Za-z0-9!_.*'()-]+/)*$")
_TAG_KEY_RE = re.compile(r"^[\w .:/=+@-]{1,128}$")
# "Tagging AWS resources", Tag naming limits and requirements: at most 50 tags per resource,
# values up to 256 Unicode characters of letters, digits, spaces and + - = . _ : / @
# (no newline, no control character). CloudFormation refuses the rest only at deploy time.
_TAG_VALUE_RE = re.compile(r"^[\w .:/=+@-]{0,256}$")
MAX_TAGS = 50
# How close an app's own key must come to one of ours to be taken for a typo of it (difflib's
# ratio: `stack_prefx` and `removal_polcy` 0.96; an app's `environment` vs `emulator` 0.21).
_TYPO_CUTOFF = 0.85


class ConfigError(ValueError):
    """One bad configuration value: the key, the value given and the rule it breaks."""

    def __init__(self, key: str, value: object, rule: str) -> None:
        self.key = key
        self.value = value
        self.rule = rule
        super().__init__(f"{key}: {_show(value)} {rule}")


class ConfigErrors(ValueError):
    """All bad values found in one pass; the message lists one per line."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"invalid dtrain configuration ({len(errors)} error(s)):\n{lines}")

    def keys(self) -> list[str]:
        return [e.key for e in self.errors]


def _cut(value: object, limit: int = 80) -> object:
    """A long offending value, cut so that its error stays one readable line."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 3] + "..."
    if isinstance(value, dict | list) and len(json.dumps(value, default=str)) > limit:
        return f"{type(value).__name__} of {len(value)} items"
    return value


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str | int | float | bool):
        # One error, one line: a newline in a value is shown escaped.
        return str(value).replace("\n", "\\n").replace("\r", "\\r")
    return json.dumps(value, sort_keys=True, default=str)


# -- teams ----------------------------------------------------------------------------------------
# A team's name goes into IAM resource ARNs and names as `<prefix>-<team>-...` (state machine, jobs,
# endpoints, log streams) and into S3 keys as `teams/<team>/`. Lower case and digits only: SageMaker
# lower-cases names in its ARNs, and no hyphen, so that one team's `<prefix>-<team>-*` never covers
# another's (`ml-*` would cover a team `ml-x`). At most 12 characters: a training job name is at
# most 63 (botocore TrainingJobName), and `<stack_prefix, 20>-<team>-` must leave room for the job.
_TEAM_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# botocore's TrainingInstanceType values all read `ml.<family>.<size>` (families may hold a hyphen:
# ml.p6-b200.48xlarge, ml.m7i-flex.large); the standard library cannot check the enum itself.
_INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
DEFAULT_TEAM = team_names.DEFAULT_TEAM
TEAMS_KEY = "teams"
# SageMaker's own bounds: StoppingCondition.MaxRuntimeInSeconds is at most 28 days ("Amazon
# SageMaker AI endpoints and quotas", also dtrain.jobspec.service_rules.MAX_RUNTIME_SECONDS);
# ResourceConfig.KeepAlivePeriodInSeconds is 0-21600 (botocore's shape, min 0 max 21600).
MAX_RUN_SECONDS_LIMIT = 28 * 24 * 3600
MAX_WARM_POOL_SECONDS_LIMIT = 21600
# The fields a team's object may hold, with what each is (the error for an unknown field lists them).
TEAM_FIELDS = (
    "instance_types",
    "max_instance_count",
    "max_run_seconds",
    "max_warm_pool_seconds",
    "quota_instances",
    "spot_required",
)


@dataclass(frozen=True)
class TeamConfig:
    """One scientist team of the platform: its name and its guardrails.

    - `name`: `[a-z][a-z0-9]{0,11}` (see _TEAM_NAME_RE for why).
    - `instance_types`: the instance types its jobs may use; empty: any.
    - `max_instance_count`: the most instances one job (or one instance group) may ask for.
    - `max_run_seconds`: the longest `max_run` (MaxRuntimeInSeconds) a job may ask for.
    - `max_warm_pool_seconds`: the longest warm pool (KeepAlivePeriodInSeconds); 0 forbids one.
    - `quota_instances`: instances its running jobs may hold at once; more waits for capacity.
    - `spot_required`: every training job must use managed spot training.
    None for a limit: no limit of the platform's own (SageMaker's and the account's quotas still
    apply). `implicit`: the one team a deploy without teams has (DEFAULT_TEAM); its names are the
    platform's as they were before teams (`resource_prefix` is the bare job-name prefix).

    Constructing one validates it (ConfigErrors naming `teams.<name>.<field>`), so a team built in
    Python for the construct's props is held to the same rules as one read from cdk.json."""

    name: str
    instance_types: tuple[str, ...] = ()
    max_instance_count: int | None = None
    max_run_seconds: int | None = None
    max_warm_pool_seconds: int | None = None
    quota_instances: int | None = None
    spot_required: bool = False
    implicit: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        errors = team_errors(self)
        if errors:
            raise ConfigErrors(errors)

    @classmethod
    def default(cls) -> TeamConfig:
        """The team of a deploy with no teams: today's behaviour, no limits of the platform's own."""
        return cls(DEFAULT_TEAM, implicit=True)

    def resource_prefix(self, job_name_prefix: str) -> str:
        """What the team's names start with: `<prefix>-<team>` (`dtrain-vision`); its state
        machine is named this, its jobs, endpoints and executions `<this>-...`, so IAM ARNs with
        `<this>-*` scope the team. The implicit team keeps the bare prefix (`dtrain`)."""
        return team_names.resource_prefix(job_name_prefix, None if self.implicit else self.name)

    @property
    def s3_prefix(self) -> str:
        """The team's key prefix in the data, artifacts and checkpoint buckets (`teams/<team>/`);
        the implicit team's is the bucket root, as before teams."""
        return team_names.s3_prefix(None if self.implicit else self.name)

    @property
    def context_key(self) -> str:
        return f"{TEAMS_KEY}.{self.name}"


def team_errors(team: TeamConfig) -> list[ConfigError]:
    """Every rule `team` breaks, one ConfigError each, keyed `teams.<name>.<field>`."""
    key = f"{TEAMS_KEY}.{team.name}"
    errors: list[ConfigError] = []
    if not isinstance(team.name, str) or not _TEAM_NAME_RE.fullmatch(team.name):
        errors.append(
            ConfigError(
                TEAMS_KEY,
                _cut(team.name),
                "is not a team name: 1-12 lower-case letters and digits starting with a letter "
                "(it goes into ARNs as <prefix>-<team>-*, so no hyphen)",
            )
        )
    for instance_type in team.instance_types:
        if not isinstance(instance_type, str) or not _INSTANCE_TYPE_RE.fullmatch(instance_type):
            errors.append(
                ConfigError(
                    f"{key}.instance_types", _cut(instance_type), "is not an instance type like ml.g5.xlarge"
                )
            )
    if len(set(team.instance_types)) != len(team.instance_types):
        errors.append(ConfigError(f"{key}.instance_types", list(team.instance_types), "names a type twice"))
    bounds = {
        "max_instance_count": (team.max_instance_count, 1, None),
        "max_run_seconds": (team.max_run_seconds, 1, MAX_RUN_SECONDS_LIMIT),
        "max_warm_pool_seconds": (team.max_warm_pool_seconds, 0, MAX_WARM_POOL_SECONDS_LIMIT),
        "quota_instances": (team.quota_instances, 1, None),
    }
    for name, (value, low, high) in bounds.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(ConfigError(f"{key}.{name}", value, "is not an integer"))
        elif value < low or (high is not None and value > high):
            rule = f"is not between {low} and {high}" if high is not None else f"is less than {low}"
            errors.append(ConfigError(f"{key}.{name}", value, rule))
    count, quota = team.max_instance_count, team.quota_instances
    if isinstance(count, int) and isinstance(quota, int) and not errors and count > quota:
        errors.append(
            ConfigError(
                f"{key}.quota_instances",
                quota,
                f"is less than max_instance_count ({count}): a job that size could never start",
            )
        )
    if not isinstance(team.spot_required, bool):
        errors.append(ConfigError(f"{key}.spot_required", team.spot_required, "is not true or false"))
    return errors


@dataclass(frozen=True)
class NetworkConfig:
    vpc_id: str | None
    vpc_cidr: str
    max_azs: int
    availability_zones: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]
    private_route_table_ids: tuple[str, ...]
    nat_gateways: int
    interface_endpoints: bool
    # Switches for what a platform team may already run in its VPC: the S3 gateway endpoint (the
    # platform's has a policy naming its buckets) and the VPC flow log.
    s3_gateway_endpoint: bool
    flow_logs: bool
    flow_log_retention_days: int
    # Every job gets the platform's VpcConfig (private subnets, training security group), so it
    # runs behind the endpoints and flow logs of this network, not with SageMaker's internet access.
    jobs_in_vpc: bool

    @property
    def imported(self) -> bool:
        return self.vpc_id is not None


@dataclass(frozen=True)
class FsxConfig:
    enabled: bool
    deployment_type: DeploymentType
    storage_capacity_gib: int
    throughput_per_tib: int
    s3_prefix: str
    file_system_path: str


@dataclass(frozen=True)
class StorageConfig:
    checkpoint_noncurrent_days: int
    access_log_expiration_days: int


@dataclass(frozen=True)
class EfsConfig:
    enabled: bool


@dataclass(frozen=True)
class DtrainConfig:
    """Everything the stacks read; nothing else reads context."""

    account: str | None
    region: str | None
    stack_prefix: str
    emulator: bool
    removal_policy: RemovalPolicyName
    notification_email: str | None
    tags: Mapping[str, str]
    network: NetworkConfig
    fsx: FsxConfig
    efs: EfsConfig
    storage: StorageConfig
    # The scientist teams, in name order; one implicit DEFAULT_TEAM when none is configured.
    teams: tuple[TeamConfig, ...] = (TeamConfig.default(),)

    @property
    def explicit_env(self) -> bool:
        return self.account is not None and self.region is not None

    @property
    def bootstrap_rule(self) -> bool:
        """The CDK bootstrap-version rule: wanted for real deploys, off for the embedded emulator,
        which has no bootstrap stack (no SSM parameter) to check against."""
        return not self.emulator

    @property
    def job_name_prefix(self) -> str:
        """The platform's job-name prefix: its stack prefix, lower-cased (`Dtrain` -> `dtrain`).

        Every SageMaker resource the platform names starts with `<prefix>-`, and its IAM grants,
        event rules, log grants and the scientists' policy match only that, so two platforms in
        one account (two stack prefixes) never cover each other's jobs. Lower case because
        SageMaker writes names lower-cased into ARNs (`training-job/<name>`); a narrower scheme
        (per team: `<prefix>-<team>-...`) nests inside it."""
        return self.stack_prefix.lower()

    @property
    def has_teams(self) -> bool:
        """Teams were configured (False: the one implicit default team, today's platform)."""
        return not (len(self.teams) == 1 and self.teams[0].implicit)

    def team(self, name: str) -> TeamConfig:
        """The team called `name`; KeyError naming the platform's teams otherwise."""
        for team in self.teams:
            if team.name == name:
                return team
        raise KeyError(f"no team {name!r} on this platform (teams: {', '.join(t.name for t in self.teams)})")

    @property
    def retain(self) -> bool:
        return self.removal_policy == "retain"

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> DtrainConfig:
        """Build and validate from CDK context; raise ConfigErrors naming every bad key at once.

        When the context holds a `dtrain` object (a platform team's cdk.json: `"dtrain":
        {"network.nat_gateways": 1}`), the settings are read from it alone and every key in it
        must be one of ours. Otherwise from the flat keys (this project's cdk.json): keys of our
        sections (`network.`, `fsx.`, ...) must be known, and any other key is the app's own and
        left alone unless it is a near miss of one of ours (`stack_prefx`: a typo, refused)."""
        nested = context.get(NAMESPACE)
        if isinstance(nested, Mapping):
            return _Parser(nested, every_key_ours=True).parse()
        return _Parser(context).parse()

    def with_teams(self, teams: Sequence[TeamConfig]) -> DtrainConfig:
        """This config with `teams` instead of its own (the construct's `teams` prop); an empty
        sequence is the one implicit default team. ConfigErrors when two share a name."""
        names = [team.name for team in teams]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ConfigErrors([ConfigError(TEAMS_KEY, name, "is named twice") for name in twice])
        ordered = tuple(sorted(teams, key=lambda team: team.name)) or (TeamConfig.default(),)
        return dataclasses.replace(self, teams=ordered)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None) -> DtrainConfig:
        """The defaults (DEFAULTS; cdk.json lists them) with `settings` on top, every key ours:
        how a platform team's app configures the constructs in Python."""
        return _Parser(settings or {}, every_key_ours=True).parse()


def is_region_name(text: str) -> bool:
    """Shaped like an AWS region name (us-east-1, us-gov-west-1, cn-north-1...)."""
    return bool(_REGION_RE.fullmatch(text))


def exit_on_bad_cli_context() -> None:
    """app.py's first step under the CDK CLI, which passes the whole context (cdk.json plus
    `-c` values) in CDK_CONTEXT_JSON: print every bad value, one per line, and exit 1 before
    the CDK is even imported (its start-up is most of the time a failed synth took)."""

    text = os.environ.get("CDK_CONTEXT_JSON")
    if not text:
        return
    try:
        context = json.loads(text)
    except ValueError:
        return  # not ours to judge: the CDK reports it
    if not isinstance(context, dict):
        return
    try:
        DtrainConfig.from_context(context)
    except ConfigErrors as errors:
        print(errors, file=sys.stderr)
        sys.exit(1)


# Defaults: cdk.json repeats them so a reader sees every knob in one place.
DEFAULTS: dict[str, Any] = {
    "account": None,
    "region": None,
    "stack_prefix": "Dtrain",
    "emulator": False,
    "removal_policy": "retain",
    "notification_email": None,
    "tags": {"project": "dtrain"},
    # {"<team>": {"instance_types": [...], "max_instance_count": 8, ...}}; {}: one implicit team.
    "teams": {},
    "network.vpc_id": None,
    "network.vpc_cidr": "10.40.0.0/16",
    "network.max_azs": 2,
    "network.availability_zones": [],
    "network.private_subnet_ids": [],
    "network.private_route_table_ids": [],
    "network.nat_gateways": 0,
    "network.interface_endpoints": True,
    "network.s3_gateway_endpoint": True,
    "network.flow_logs": True,
    "network.flow_log_retention_days": 365,
    "network.jobs_in_vpc": True,
    "fsx.enabled": True,
    "fsx.deployment_type": "PERSISTENT_2",
    "fsx.storage_capacity_gib": 1200,
    "fsx.throughput_per_tib": 125,
    "fsx.s3_prefix": "datasets/",
    "fsx.file_system_path": "/datasets",
    "efs.enabled": True,
    "storage.checkpoint_noncurrent_days": 7,
    "storage.access_log_expiration_days": 365,
}

T = TypeVar("T")


class _Parser:
    def __init__(self, context: Mapping[str, Any], *, every_key_ours: bool = False) -> None:
        self.context = context
        self.every_key_ours = every_key_ours
        self.errors: list[ConfigError] = []

    # -- raw access and coercion -------------------------------------------------------------
    def raw(self, key: str) -> Any:
        # A key not given takes its default (a team's field is read only when given).
        value = self.context[key] if key in self.context else DEFAULTS[key]
        # `-c key=` or an explicit JSON null both mean "not set".
        return None if value == "" else value

    def fail(self, key: str, value: object, rule: str) -> None:
        self.errors.append(ConfigError(key, value, rule))

    def has_error(self, key: str) -> bool:
        return any(e.key == key for e in self.errors)

    def coerce(self, key: str, convert: Callable[[Any], T], rule: str, fallback: T) -> T:
        value = self.raw(key)
        try:
            return convert(value)
        except (TypeError, ValueError):
            self.fail(key, value, rule)
            return fallback

    def integer(self, key: str) -> int:
        def convert(v: Any) -> int:
            if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                raise ValueError
            return int(v)

        return self.coerce(key, convert, "is not an integer", 0)

    def boolean(self, key: str) -> bool:
        def convert(v: Any) -> bool:
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.lower() in ("true", "false"):
                return v.lower() == "true"
            raise ValueError

        return self.coerce(key, convert, "is not true or false", False)

    def optional_string(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(key, value, "is not a string")
            return None
        return value

    def string_list(self, key: str) -> tuple[str, ...]:
        def convert(v: Any) -> tuple[str, ...]:
            if v is None:
                return ()
            if isinstance(v, str):  # -c key=a,b or -c 'key=["a","b"]'
                v = json.loads(v) if v.lstrip().startswith("[") else [p for p in v.split(",") if p]
            if not isinstance(v, list) or not all(isinstance(i, str) for i in v):
                raise ValueError
            return tuple(i.strip() for i in v)

        return self.coerce(key, convert, "is not a list of strings", ())

    def string_map(self, key: str) -> dict[str, str]:
        def convert(v: Any) -> dict[str, str]:
            if v is None:
                return {}
            if isinstance(v, str):
                v = json.loads(v)
            if not isinstance(v, dict) or not all(
                isinstance(k, str) and isinstance(i, str) for k, i in v.items()
            ):
                raise ValueError
            return dict(v)

        return self.coerce(key, convert, "is not an object of string values", {})

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value not in options:
            self.fail(key, value, f"is not {_either(options)}")
            return options[0]
        return str(value)

    def matching(
        self, key: str, pattern: re.Pattern[str], rule: str, *, optional: bool = False
    ) -> str | None:
        value = self.optional_string(key) if optional else self.raw(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not pattern.match(value):
            self.fail(key, value, rule)
            return None
        return value

    def in_range(self, key: str, low: int, high: int) -> int:
        value = self.integer(key)
        if not self.has_error(key) and not low <= value <= high:
            self.fail(key, value, f"is not between {low} and {high}")
        return value

    # -- the whole object --------------------------------------------------------------------
    def parse(self) -> DtrainConfig:
        self.check_unknown_keys()
        account = self.matching("account", _ACCOUNT_RE, "is not a 12-digit AWS account id", optional=True)
        region = self.matching(
            "region", _REGION_RE, "is not an AWS region name like us-east-1", optional=True
        )
        if (self.raw("account") is None) != (self.raw("region") is None):
            self.fail(
                "account" if self.raw("account") is None else "region",
                None,
                "must be set together with "
                + ("region" if self.raw("account") is None else "account")
                + " (or leave both unset for an environment-agnostic synth)",
            )
        prefix = self.matching(
            "stack_prefix", _PREFIX_RE, "is not 1-20 letters/digits starting with a letter"
        )
        removal = self.choice("removal_policy", ("retain", "destroy"))
        email = self.matching("notification_email", _EMAIL_RE, "is not an e-mail address", optional=True)
        tags = self.string_map("tags")
        if len(tags) > MAX_TAGS:
            self.fail("tags", f"{len(tags)} tags", f"is more than AWS's {MAX_TAGS} tags per resource")
        for tag_key, tag_value in tags.items():
            if not _TAG_KEY_RE.fullmatch(tag_key) or tag_key.lower().startswith("aws:"):
                self.fail("tags", tag_key, "is not a valid tag key (1-128 chars, no aws: prefix)")
            elif not _TAG_VALUE_RE.fullmatch(tag_value):
                self.fail(
                    f"tags.{tag_key}",
                    _cut(tag_value),
                    "is not a valid tag value (at most 256 letters, digits, spaces and + - = . _ : / @; "
                    "no newline)",
                )
        network = self.parse_network(explicit_env=account is not None and region is not None, region=region)
        fsx = self.parse_fsx()
        config = DtrainConfig(
            account=account,
            region=region,
            stack_prefix=prefix or "Dtrain",
            emulator=self.boolean("emulator"),
            removal_policy="destroy" if removal == "destroy" else "retain",
            notification_email=email,
            tags=tags,
            network=network,
            fsx=fsx,
            efs=EfsConfig(enabled=self.boolean("efs.enabled")),
            storage=StorageConfig(
                checkpoint_noncurrent_days=self.in_range("storage.checkpoint_noncurrent_days", 1, 3650),
                access_log_expiration_days=self.in_range("storage.access_log_expiration_days", 1, 3650),
            ),
            teams=self.parse_teams(),
        )
        if self.errors:
            raise ConfigErrors(self.errors)
        return config

    def check_unknown_keys(self) -> None:
        for key in self.context:
            if key in DEFAULTS or key.startswith(f"{TEAMS_KEY}."):
                continue  # a team's flat keys are checked by parse_teams
            close = difflib.get_close_matches(key, list(DEFAULTS), n=1)
            near_miss = bool(difflib.get_close_matches(key, list(DEFAULTS), n=1, cutoff=_TYPO_CUTOFF))
            if self.every_key_ours or key.startswith(OWNED_SECTIONS) or near_miss:
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.fail(key, _cut(self.context[key]), f"is not a known configuration key{hint}")

    # -- teams -------------------------------------------------------------------------------
    def team_objects(self) -> dict[str, dict[str, Any]]:
        """The `teams` object with the flat `teams.<team>.<field>` keys on top, field by field."""
        raw = self.raw(TEAMS_KEY)
        if isinstance(raw, str):  # -c 'teams={"vision": {...}}'
            with contextlib.suppress(ValueError):  # not JSON: refused below as not an object
                raw = json.loads(raw)
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) for v in raw.values()):
            self.fail(TEAMS_KEY, _cut(raw), 'is not an object of team objects ({"<team>": {...}})')
            raw = {}
        teams = {str(name): dict(fields) for name, fields in raw.items()}
        for key, value in self.context.items():
            if not key.startswith(f"{TEAMS_KEY}."):
                continue
            name, _, field_name = key[len(TEAMS_KEY) + 1 :].partition(".")
            if not field_name:
                self.fail(key, _cut(value), "is not teams.<team>.<field>")
                continue
            teams.setdefault(name, {})[field_name] = value
        return teams

    def parse_teams(self) -> tuple[TeamConfig, ...]:
        teams: list[TeamConfig] = []
        for name, fields in sorted(self.team_objects().items()):
            team = self.parse_team(name, fields)
            if team is not None:
                teams.append(team)
        return tuple(teams) or (TeamConfig.default(),)

    def parse_team(self, name: str, fields: Mapping[str, Any]) -> TeamConfig | None:
        """One team from its object (values from `-c` arrive as strings: coerced as the flat
        keys are); None when it breaks a rule (the errors are collected)."""
        before = len(self.errors)
        for unknown in sorted(set(fields) - set(TEAM_FIELDS)):
            close = difflib.get_close_matches(unknown, TEAM_FIELDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (a team has {', '.join(TEAM_FIELDS)})"
            self.fail(f"{TEAMS_KEY}.{name}.{unknown}", _cut(fields[unknown]), f"is not a team field{hint}")
        team_parser = _Parser({f"{TEAMS_KEY}.{name}.{k}": v for k, v in fields.items()}, every_key_ours=True)
        values: dict[str, Any] = {}
        for field_name in TEAM_FIELDS:
            key = f"{TEAMS_KEY}.{name}.{field_name}"
            if field_name not in fields or fields[field_name] in (None, ""):
                continue
            if field_name == "instance_types":
                values[field_name] = team_parser.string_list(key)
            elif field_name == "spot_required":
                values[field_name] = team_parser.boolean(key)
            else:
                values[field_name] = team_parser.integer(key)
        self.errors.extend(team_parser.errors)
        if team_parser.errors:
            return None  # a value of the wrong kind: its rules cannot be judged
        try:
            team = TeamConfig(name, **values)
        except ConfigErrors as errors:
            self.errors.extend(errors.errors)
            return None
        return None if len(self.errors) > before else team

    def parse_network(self, *, explicit_env: bool, region: str | None = None) -> NetworkConfig:
        vpc_id = self.matching("network.vpc_id", _VPC_RE, "is not a VPC id like vpc-0abc12345", optional=True)
        cidr = self._vpc_cidr()
        max_azs = self.in_range("network.max_azs", 1, 6)
        azs = self._availability_zones(region)
        subnets = self._ids("network.private_subnet_ids", _SUBNET_RE, "a subnet id like subnet-0abc12345")
        route_tables = self._ids(
            "network.private_route_table_ids", _RTB_RE, "a route table id like rtb-0abc12345"
        )
        nat = self.in_range("network.nat_gateways", 0, 6)
        retention = self.integer("network.flow_log_retention_days")
        if not self.has_error("network.flow_log_retention_days") and retention not in LOG_RETENTION_DAYS:
            self.fail(
                "network.flow_log_retention_days", retention, "is not a CloudWatch Logs retention period"
            )
        if vpc_id is not None:
            self._check_described_vpc(azs, subnets, route_tables)
        else:
            self._check_own_vpc(azs, subnets, route_tables, max_azs=max_azs, explicit_env=explicit_env)
        return NetworkConfig(
            vpc_id=vpc_id,
            vpc_cidr=cidr,
            max_azs=max_azs,
            availability_zones=azs,
            private_subnet_ids=subnets,
            private_route_table_ids=route_tables,
            nat_gateways=nat,
            interface_endpoints=self.boolean("network.interface_endpoints"),
            s3_gateway_endpoint=self.boolean("network.s3_gateway_endpoint"),
            flow_logs=self.boolean("network.flow_logs"),
            flow_log_retention_days=retention,
            jobs_in_vpc=self.boolean("network.jobs_in_vpc"),
        )

    def _vpc_cidr(self) -> str:
        cidr: str = self.coerce(
            "network.vpc_cidr", lambda v: str(ipaddress.IPv4Network(v)), "is not an IPv4 CIDR block", ""
        )
        if cidr and not self.has_error("network.vpc_cidr"):
            prefixlen = ipaddress.IPv4Network(cidr).prefixlen
            if not 16 <= prefixlen <= 24:
                self.fail("network.vpc_cidr", cidr, "is not a block between /16 and /24")
        return cidr

    def _availability_zones(self, region: str | None) -> tuple[str, ...]:
        azs = self.string_list("network.availability_zones")
        for az in azs:
            if not _AZ_RE.match(az):
                self.fail(
                    "network.availability_zones", az, "is not an availability zone name like us-east-1a"
                )
            elif region is not None and az[:-1] != region:
                self.fail("network.availability_zones", az, f"is not a zone of the stacks' region {region}")
        zone_regions = sorted({az[:-1] for az in azs if _AZ_RE.match(az)})
        if region is None and len(zone_regions) > 1:
            self.fail(
                "network.availability_zones",
                list(azs),
                f"mixes regions ({', '.join(zone_regions)}): one VPC lives in one region",
            )
        return azs

    def _ids(self, key: str, pattern: re.Pattern[str], like: str) -> tuple[str, ...]:
        ids = self.string_list(key)
        for value in ids:
            if not pattern.match(value):
                self.fail(key, value, f"is not {like}")
        return ids

    def _check_described_vpc(
        self, azs: tuple[str, ...], subnets: tuple[str, ...], route_tables: tuple[str, ...]
    ) -> None:
        # An imported VPC is described, not looked up: synth never calls AWS.
        if not subnets:
            self.fail("network.private_subnet_ids", list(subnets), "must list the private subnets of vpc_id")
        if len(azs) != len(subnets):
            self.fail(
                "network.availability_zones",
                list(azs),
                "must name one availability zone per private subnet of vpc_id",
            )
        if len(route_tables) != len(subnets):
            self.fail(
                "network.private_route_table_ids",
                list(route_tables),
                "must name one route table per private subnet of vpc_id",
            )

    def _check_own_vpc(
        self,
        azs: tuple[str, ...],
        subnets: tuple[str, ...],
        route_tables: tuple[str, ...],
        *,
        max_azs: int,
        explicit_env: bool,
    ) -> None:
        if subnets or route_tables:
            self.fail(
                "network.private_subnet_ids" if subnets else "network.private_route_table_ids",
                list(subnets or route_tables),
                "is only allowed with network.vpc_id",
            )
        if explicit_env and len(azs) < max_azs:
            self.fail(
                "network.availability_zones",
                list(azs),
                f"must name at least network.max_azs ({max_azs}) zones when account and region are set "
                "(synth never looks them up)",
            )

    def parse_fsx(self) -> FsxConfig:
        deployment = self.choice("fsx.deployment_type", ("PERSISTENT_2", "SCRATCH_2"))
        capacity = self.integer("fsx.storage_capacity_gib")
        if not self.has_error("fsx.storage_capacity_gib") and not (
            capacity in (1200, 2400) or (capacity > 0 and capacity % 2400 == 0)
        ):
            self.fail("fsx.storage_capacity_gib", capacity, "is not 1200, 2400 or a multiple of 2400")
        throughput = self.integer("fsx.throughput_per_tib")
        if not self.has_error("fsx.throughput_per_tib") and (throughput not in FSX_THROUGHPUT_PER_TIB):
            self.fail("fsx.throughput_per_tib", throughput, f"is not {_either(FSX_THROUGHPUT_PER_TIB)}")
        s3_prefix = self.raw("fsx.s3_prefix")
        if not isinstance(s3_prefix, str) or not s3_prefix or not _S3_PREFIX_RE.match(s3_prefix):
            self.fail("fsx.s3_prefix", s3_prefix, "is not an S3 key prefix ending in / (e.g. datasets/)")
            s3_prefix = "datasets/"
        fs_path = self.raw("fsx.file_system_path")
        if not isinstance(fs_path, str) or not re.match(r"^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", fs_path):
            self.fail("fsx.file_system_path", fs_path, "is not an absolute path below / like /datasets")
            fs_path = "/datasets"
        return FsxConfig(
            enabled=self.boolean("fsx.enabled"),
            deployment_type="SCRATCH_2" if deployment == "SCRATCH_2" else "PERSISTENT_2",
            storage_capacity_gib=capacity,
            throughput_per_tib=throughput,
            s3_prefix=s3_prefix,
            file_system_path=fs_path,
        )


def _either(options: tuple[object, ...]) -> str:
    words = [str(o) for o in options]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
