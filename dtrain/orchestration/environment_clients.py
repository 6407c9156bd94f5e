"""SDK clients made once per Lambda execution environment and reused by its invocations.

AWS's Lambda best practices (https://docs.aws.amazon.com/lambda/latest/dg/best-practices.html):
"Initialize SDK clients and database connections outside of the function handler ... Subsequent
invocations processed by the same instance of your function can reuse these resources." A boto3
client costs milliseconds of CPU to make (its event hooks, endpoint rules, an SSL context with the
CA bundle), and the handlers made up to five per invocation.

Each handler module holds one `EnvironmentClients`: Lambda loads a handler's module once per
execution environment (so does the emulator's runtime, dtrain.emulator.shims.LambdaRuntime), so
the cache lives exactly as long as the environment. A client is made on its first use, inside an
invocation, where the environment's region and credentials are set (the emulator applies a
function's variables per invocation). Only clients are kept here, never an event's data: a
Ledger object (its read counts) is new per invocation, its DynamoDB client is the environment's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3

from dtrain.orchestration.ledger import Ledger


class EnvironmentClients:
    def __init__(self) -> None:
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str, make: Callable[[], Any]) -> Any:
        """The client kept under `name`, made by `make()` the first time it is asked for."""
        with self._lock:
            if name not in self._made:
                self._made[name] = make()
            return self._made[name]

    def client(self, service: str) -> Any:
        """boto3's default client for `service` (the environment's region and credentials)."""
        return self.get(service, lambda: boto3.client(service))

    def ledger(self, table: str) -> Ledger:
        """A Ledger of `table` for this invocation, on the environment's DynamoDB client."""
        return Ledger(table, client=self.client("dynamodb"))
