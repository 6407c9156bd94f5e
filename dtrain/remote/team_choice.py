"""Which team a remote command works for, on a platform with teams (issue 29).

In this order:
1. `--team` on the command line;
2. `DTRAIN_TEAM` in the environment;
3. the caller's own IAM identity (sts:GetCallerIdentity, which needs no permission): its role or
   user name split at `-`, `_`, `.` and `@`, lower-cased, naming exactly one of the platform's
   teams. A team's scientists' role named `vision-scientists`, `dtrain-vision-scientists` or an
   IAM Identity Center permission set `DtrainVision` (role `AWSReservedSSO_DtrainVision_<id>`:
   split at capitals too) all give `vision`.

A platform without teams has no choice to make: `--team` there is a usage error unless it names
the implicit team `default`. On a platform with teams, a caller whose team none of these gives
is told the teams and the flag.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from dtrain.remote.errors import UsageError

TEAM_ENV_VAR = "DTRAIN_TEAM"
DEFAULT_TEAM = "default"
_SEPARATORS = re.compile(r"[-_.@/+=,]+")
# Where a capital starts a new word (DtrainVision -> Dtrain Vision).
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def name_of_caller(caller_arn: str) -> str:
    """The role (assumed-role/<role>/<session>), user (user/<path>/<name>) or root of an ARN."""
    resource = caller_arn.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role":
        return rest.split("/", 1)[0]
    return rest.rsplit("/", 1)[-1] if rest else kind


def teams_in_name(name: str, teams: Sequence[str]) -> list[str]:
    """The platform's teams that `name` holds as a word."""
    words = {w.lower() for part in _SEPARATORS.split(name) for w in _CAMEL.sub(" ", part).split()}
    words |= {part.lower() for part in _SEPARATORS.split(name)}
    return [team for team in teams if team in words]


def choose_team(explicit: str | None, teams: Sequence[str], caller_arn: str | None) -> str | None:
    """The team to work for; None on a platform without teams. UsageError when it cannot tell."""
    given = explicit or os.environ.get(TEAM_ENV_VAR) or None
    source = "--team" if explicit else TEAM_ENV_VAR
    if not teams:
        if given and given != DEFAULT_TEAM:
            raise UsageError(f"{source}: {given!r}: this platform has no teams (leave {source} out)")
        return None
    if given:
        if given not in teams:
            raise UsageError(f"{source}: {given!r}: not a team of this platform (teams: {', '.join(teams)})")
        return given
    who = ""
    if caller_arn:
        found = teams_in_name(name_of_caller(caller_arn), teams)
        if len(found) == 1:
            return found[0]
        names = f"names {' and '.join(found)}" if found else "names none"
        who = f" and your identity ({name_of_caller(caller_arn)}) {names}"
    raise UsageError(
        f"this platform has teams ({', '.join(teams)}){who}: pass --team TEAM or set {TEAM_ENV_VAR}"
    )
