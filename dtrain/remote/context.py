"""The connection a remote command works with: a session, the platform, and its clients."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from dtrain.remote.aws import AwsSession
from dtrain.remote.ledger_view import LedgerView
from dtrain.remote.platform_stack import DeployedPlatform, discover_platform


@dataclass
class RemoteContext:
    session: AwsSession
    platform: DeployedPlatform

    @classmethod
    def connect(cls, *, stack_name: str, region: str | None) -> RemoteContext:
        session = AwsSession(region)
        return cls(session, discover_platform(session, stack_name))

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
        return LedgerView(self.session.client("dynamodb"), self.platform.ledger_table_name)
