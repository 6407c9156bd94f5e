"""DynamoDB's conditional writes, atomic in the emulator as they are in the service.

DynamoDB evaluates a write's ConditionExpression against the item and applies the write as one
atomic operation ("Condition expressions" in the DynamoDB Developer Guide: a conditional write
succeeds only if the condition holds when the write is applied; TransactWriteItems applies all
its actions or none, "Amazon DynamoDB Transactions: How it works"). moto 5 reads the item,
evaluates the condition and then stores the new item without a lock, so two concurrent writers
can both pass a condition that only one may (issue 29: two of ten concurrent Submits held the
same team's last quota slot). The emulator serves requests on several threads (`dtrain emulate`'s
HTTP server, the Lambdas' concurrent invocations), so it applies each write under one lock.

Installed by the emulator's shims (dtrain.emulator.shims.installed) through class_patches, and by
the Lambda tests that call moto directly (tests/lambda/test_team_capacity.py). moto is imported
inside `install`: this module stays importable where only part of moto is installed.
"""

from __future__ import annotations

import threading
from typing import Any

from dtrain.emulator.class_patches import Patch

# The backend's item writes (each may carry a condition). TransactWriteItems calls put_item,
# update_item and delete_item itself: the lock is re-entrant, so a transaction holds it once
# for all its actions.
WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items")


def install(patch: Patch) -> threading.RLock:
    """Wrap each of moto's DynamoDB write methods in one lock; the lock, for tests."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in WRITE_METHODS:
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        locked.__name__ = name
        patch(DynamoDBBackend, name, locked)
    return lock
