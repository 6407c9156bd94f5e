"""The names of a team's resources: one place the stacks, the Lambdas and the CLI derive them from.

A platform with teams (dtrain.config.TeamConfig) gives each team its own execution role, state
machine, scientists' managed policy and S3 prefixes, and IAM scopes each team to them by name:

- resources named `<prefix>-<team>...` (`resource_prefix`): the state machine is named exactly
  that, its executions are `execution:<prefix>-<team>:*`, and every SageMaker job, model, endpoint
  config and endpoint Submit creates for the team is `<prefix>-<team>-*`, so its log streams are
  too;
- S3 keys under `teams/<team>/` (`s3_prefix`) in the data, artifacts and checkpoint buckets: its
  data, its jobs' output (`teams/<team>/jobs/...`), its uploaded sources
  (`teams/<team>/<execution>/source/...`);
- its execution role `<prefix>-<team>-execution` and scientists' policy `<prefix>-<team>-scientists`,
  named so a platform team can find them (and Submit can name the role without a lookup).

A team name is `[a-z][a-z0-9]{0,11}` (dtrain.config checks it): no hyphen, so one team's
`<prefix>-<team>-*` never covers another's. A platform without teams has one implicit team,
`default` (`team=None` here), whose names are the platform's as before teams: the bare prefix and
the bucket root. Pure: no AWS call, no CDK; the bottom layer (dtrain.config and the spec core
import it).
"""

from __future__ import annotations

DEFAULT_TEAM = "default"
# Where teams' keys live in the buckets: teams/<team>/...
TEAMS_S3_FOLDER = "teams"
# Under a team's (or the implicit team's) S3 prefix: where job output and checkpoints go.
JOBS_FOLDER = "jobs"


def resource_prefix(job_name_prefix: str, team: str | None) -> str:
    """`<prefix>-<team>` (`dtrain-vision`); the implicit team (None): the bare prefix (`dtrain`)."""
    prefix = job_name_prefix.lower()
    return prefix if team is None else f"{prefix}-{team}"


def state_machine_name(job_name_prefix: str, team: str) -> str:
    """The team's state machine: `<prefix>-<team>` (executions `execution:<prefix>-<team>:<name>`).
    The implicit team's state machine keeps its CloudFormation-generated name (no function here)."""
    return resource_prefix(job_name_prefix, team)


def execution_role_name(job_name_prefix: str, team: str) -> str:
    """The team's SageMaker execution role: `<prefix>-<team>-execution` (at most 20+1+12+10 = 43
    characters; IAM allows 64)."""
    return f"{resource_prefix(job_name_prefix, team)}-execution"


def scientists_policy_name(job_name_prefix: str, team: str) -> str:
    """The team's scientists' managed policy: `<prefix>-<team>-scientists`."""
    return f"{resource_prefix(job_name_prefix, team)}-scientists"


def s3_prefix(team: str | None) -> str:
    """The team's key prefix in each bucket, `teams/<team>/`; the implicit team's: "" (the root)."""
    return "" if team is None else f"{TEAMS_S3_FOLDER}/{team}/"


def jobs_prefix(team: str | None) -> str:
    """Where the team's job output and checkpoints go: `teams/<team>/jobs` (implicit: `jobs`)."""
    return f"{s3_prefix(team)}{JOBS_FOLDER}"


def role_arn(any_role_arn: str, role_name: str) -> str:
    """`role_name`'s ARN in the partition and account of `any_role_arn` (a role of the platform)."""
    head, _, _ = any_role_arn.partition(":role/")
    return f"{head}:role/{role_name}"


def team_of_state_machine(job_name_prefix: str, name: str) -> str | None:
    """The team whose state machine is called `name`, or None (not `<prefix>-<team>`)."""
    head = f"{job_name_prefix.lower()}-"
    if not name.startswith(head):
        return None
    team = name[len(head) :]
    return team if team and team.isalnum() and team == team.lower() else None


def output_id(team: str, what: str) -> str:
    """The CloudFormation output of a team's resource: `Team<Team><What>` (`TeamVisionStateMachineArn`);
    output ids are alphanumeric, and a team name is lower-case letters and digits."""
    return f"Team{team.capitalize()}{what}"
