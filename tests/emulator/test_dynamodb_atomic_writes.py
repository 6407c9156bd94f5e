"""Conditional writes through the emulator's endpoint are atomic, as DynamoDB's are
(dtrain.emulator.dynamodb_writes): concurrent PutItems guarded by attribute_not_exists leave one
winner per item, and concurrent UpdateItems guarded by a quota never count past it.

The race is made certain, not left to chance: moto's condition is slowed after its evaluation (as
a busy machine slows it), so every writer evaluates it before any writes. Without the emulator's
lock every writer of a slot wins; with it, one. Served by the emulator's HTTP endpoint (a
threaded server, as `dtrain emulate` runs), a one-table assembly: a few seconds.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dtrain.emulator import Emulator
from dtrain.ports import free_port

TABLE = "AtomicWritesSlots"
WRITERS = 6


def _assembly(tmp_path: Path) -> Path:
    template = {
        "Resources": {
            "Slots": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": TABLE,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "slot", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "slot", "KeyType": "HASH"}],
                },
            }
        }
    }
    (tmp_path / "AtomicWrites.template.json").write_text(json.dumps(template))
    manifest = {
        "artifacts": {
            "AtomicWrites": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "AtomicWrites.template.json"},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One emulator for the module: a server-mode emulator's moto backends live on in the
    process, so it is reset on the way out (moto's own reset endpoint)."""
    assembly = _assembly(tmp_path_factory.mktemp("atomic"))
    with Emulator(assembly, server_port=free_port(), announce=False) as emulator:
        yield emulator
        urllib.request.urlopen(
            urllib.request.Request(f"{emulator.endpoint_url}/moto-api/reset", method="POST"), timeout=30
        ).close()


class _SlowCondition:
    """A condition that takes 50 ms after it has been evaluated, before the write goes on."""

    def __init__(self, condition: Any) -> None:
        self.condition = condition

    def expr(self, item: Any) -> Any:
        holds = self.condition.expr(item)
        time.sleep(0.05)
        return holds


@pytest.fixture
def slow_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's PutItem and UpdateItem conditions take 50 ms between their evaluation and the
    write: every concurrent writer evaluates before the first one writes."""
    from moto.dynamodb import models
    from moto.dynamodb.models import table

    put_condition = table.get_filter_expression
    update_parser = models.create_condition_expression_parser

    class SlowParser:
        def __init__(self, *args: Any) -> None:
            self.parser = update_parser(*args)

        def parse(self) -> _SlowCondition:
            return _SlowCondition(self.parser.parse())

    monkeypatch.setattr(table, "get_filter_expression", lambda *a: _SlowCondition(put_condition(*a)))
    monkeypatch.setattr(models, "create_condition_expression_parser", SlowParser)


def _all_at_once(calls: list[Any]) -> list[str]:
    """Run the calls on threads released together; each one's outcome: "ok" or the error code."""
    start = threading.Barrier(len(calls))
    outcomes: list[str] = [""] * len(calls)

    def run(i: int) -> None:
        start.wait()
        try:
            calls[i]()
            outcomes[i] = "ok"
        except ClientError as error:
            outcomes[i] = error.response["Error"]["Code"]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.usefixtures("slow_conditions")
def test_concurrent_conditional_puts_leave_one_winner_per_item(emu: Emulator) -> None:
    ddb = emu.client("dynamodb")
    slots = ["a", "b", "c"]

    def put(slot: str, writer: int) -> Any:
        return lambda: ddb.put_item(
            TableName=TABLE,
            Item={"slot": {"S": slot}, "writer": {"N": str(writer)}},
            ConditionExpression="attribute_not_exists(slot)",
        )

    calls = [put(slot, writer) for slot in slots for writer in range(WRITERS)]
    outcomes = _all_at_once(calls)
    winners = Counter(slots[i // WRITERS] for i, outcome in enumerate(outcomes) if outcome == "ok")
    assert winners == dict.fromkeys(slots, 1), outcomes
    assert set(outcomes) == {"ok", "ConditionalCheckFailedException"}
    for slot in slots:  # the item holds the one winner's write
        (won,) = [i % WRITERS for i, o in enumerate(outcomes) if o == "ok" and slots[i // WRITERS] == slot]
        item = ddb.get_item(TableName=TABLE, Key={"slot": {"S": slot}})["Item"]
        assert item["writer"] == {"N": str(won)}


@pytest.mark.usefixtures("slow_conditions")
def test_concurrent_guarded_increments_never_pass_the_quota(emu: Emulator) -> None:
    """The team quota's shape (dtrain.orchestration.team_capacity): ADD held :n if held <= quota - n."""
    ddb = emu.client("dynamodb")
    ddb.put_item(TableName=TABLE, Item={"slot": {"S": "team#vision"}, "held": {"N": "0"}})

    def hold() -> Any:
        return ddb.update_item(
            TableName=TABLE,
            Key={"slot": {"S": "team#vision"}},
            UpdateExpression="ADD held :one",
            ConditionExpression="held <= :room",
            ExpressionAttributeValues={":one": {"N": "1"}, ":room": {"N": "3"}},
        )

    outcomes = _all_at_once([hold for _ in range(10)])
    assert outcomes.count("ok") == 4, outcomes
    item = ddb.get_item(TableName=TABLE, Key={"slot": {"S": "team#vision"}})["Item"]
    assert item["held"] == {"N": "4"}
