"""The connection a remote command works with: a session, the platform, and its clients."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from dtrain.remote.aws import AwsSession, translate_aws_errors
from dtrain.remote.history_jobs import rows_from_history
from dtrain.remote.ledger_view import LedgerView, TeamLedgerView
from dtrain.remote.platform_stack import DeployedPlatform, discover_platform
from dtrain.remote.team_choice import TEAM_ENV_VAR, choose_team


@dataclass
class RemoteContext:
    session: AwsSession
    platform: DeployedPlatform

    @classmethod
    def connect(cls, *, stack_name: str, region: str | None, team: str | None = None) -> RemoteContext:
        """The platform of `stack_name`; on a platform with teams, the team's handles (its state
        machine, its settings): `team` (--team), else dtrain.remote.team_choice's choice."""
        session = AwsSession(region)
        platform = discover_platform(session, stack_name)
        teams = platform.teams
        caller = None
        if teams and not (team or os.environ.get(TEAM_ENV_VAR)):
            with translate_aws_errors("read the caller's identity (sts:GetCallerIdentity)"):
                caller = str(session.client("sts").get_caller_identity()["Arn"])
        chosen = choose_team(team, teams, caller)
        return cls(session, platform.for_team(chosen) if chosen else platform)

    @property
    def team(self) -> str | None:
        """The team the command works for (None: a platform without teams)."""
        return self.platform.team

    @property
    def region(self) -> str:
        return self.platform.region

    @cached_property
    def stepfunctions(self) -> Any:
        return self.session.client("stepfunctions")

    @cached_property
    def sagemaker(self) -> Any:
        return self.session.client("sagemaker")

    @cached_property
    def logs(self) -> Any:
        return self.session.client("logs")

    @cached_property
    def s3(self) -> Any:
        return self.session.client("s3")

    @cached_property
    def ledger(self) -> LedgerView:
        """The job ledger; a team's view of it on a platform with teams (TeamLedgerView)."""
        client = self.session.client("dynamodb")
        if self.platform.team is not None:
            # The team's state machine is named its job-name prefix (dtrain.team_names).
            prefix = self.platform.state_machine_arn.rsplit(":", 1)[1]
            return TeamLedgerView(
                client,
                self.platform.ledger_table_name,
                self.platform.state_machine_arn,
                history_rows=lambda arn: rows_from_history(self.stepfunctions, arn, prefix),
            )
        return LedgerView(client, self.platform.ledger_table_name)
