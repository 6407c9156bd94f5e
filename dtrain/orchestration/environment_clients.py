"""SDK clients made once per Lambda execution environment, from a boto3 Session the environment
owns, and the one botocore data loader a process's sessions share.

AWS's Lambda best practices (https://docs.aws.amazon.com/lambda/latest/dg/best-practices.html):
initialize SDK clients outside the function handler, so that later invocations of the same
environment reuse them. A boto3 client costs milliseconds of CPU to make (its event hooks,
endpoint rules, an SSL context with the CA bundle), and the handlers made up to five per
invocation.

Threads. boto3's guide: a client may be shared between threads once it is made; a Session may
not (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients,
and the same section of guide/session.html). So the clients come from a Session of the
environment's own, never from boto3's default session, which the emulator's in-process Lambdas
(one thread per invocation in flight) would otherwise all make clients from at once. Lambda runs
one invocation at a time in an environment (the emulator too: dtrain.emulator.shims.LambdaRuntime
gives a concurrent invocation another environment), and the lock below orders the rare others.

Each handler module holds one `EnvironmentClients`: Lambda loads a handler's module once per
environment (and so does the emulator's runtime), so the cache lives exactly as long as the
environment. The Session and the clients are made on first use, inside an invocation, where the
environment's region and credentials are set (the emulator applies a function's variables per
invocation). Only clients are kept, never an event's data: a Ledger (its read counts) is new per
invocation, on the environment's DynamoDB client.

The loader: a new botocore session parses endpoints.json and each service model again (about
0.1 s of CPU a service). `new_session` gives every session of the process one loader, which holds
only AWS's static model files (no credentials, no settings); in AWS a process is one environment,
so this changes nothing there, while the emulator, the CLI and their tests parse each model once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dtrain.orchestration.ledger import Ledger

_loader_lock = threading.Lock()
_shared_loader: Any = None


def new_session(region: str | None = None) -> Any:
    """A new boto3 Session (region, credentials and endpoint read as any session reads them) on
    the process's one botocore data loader."""
    import boto3.session
    import botocore.loaders
    import botocore.session

    global _shared_loader
    with _loader_lock:  # boto3 adds its data folder to the loader's search path per session
        if _shared_loader is None:
            _shared_loader = botocore.loaders.create_loader()
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader)
        session = boto3.session.Session(botocore_session=core, region_name=region)
        paths = _shared_loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session


class EnvironmentClients:
    def __init__(self) -> None:
        self._session: Any = None
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str, make: Callable[[Any], Any]) -> Any:
        """The client kept under `name`, made by `make(session)` the first time it is asked for."""
        with self._lock:
            if name not in self._made:
                if self._session is None:
                    self._session = new_session()
                self._made[name] = make(self._session)
            return self._made[name]

    def client(self, service: str) -> Any:
        """The environment's client for `service` (its region and credentials)."""
        return self.get(service, lambda session: session.client(service))

    def ledger(self, table: str) -> Ledger:
        """A Ledger of `table` for this invocation, on the environment's DynamoDB client."""
        return Ledger(table, client=self.client("dynamodb"))
