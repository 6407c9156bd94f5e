"""The emulator's EventBridge runs schedule rules (dtrain.emulator.schedules): a rate rule fires
its Lambda targets once per scaled period with EventBridge's "Scheduled Event"; a held schedule
(scale None), a disabled rule and a cron rule never fire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from dtrain.emulator import schedules
from dtrain.emulator.schedules import Schedules, rate_seconds

ACCOUNT = "123456789012"
TARGET = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:Reconcile"


@pytest.fixture
def delivered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    sent: list[tuple[str, dict[str, Any]]] = []

    def deliver(shims: Any, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        sent.append((target["Arn"], event))

    monkeypatch.setattr(schedules, "deliver_to_lambda_target", deliver)
    with mock_aws():
        import boto3

        events = boto3.client("events", region_name="us-east-1")
        for name, expression, state in [
            ("every-5", "rate(5 minutes)", "ENABLED"),
            ("nightly", "cron(0 20 * * ? *)", "ENABLED"),
            ("off", "rate(1 minute)", "DISABLED"),
        ]:
            events.put_rule(Name=name, ScheduleExpression=expression, State=state)
            events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": TARGET}])
        yield sent


def test_rate_expressions_as_eventbridge_writes_them() -> None:
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(2 hours)") == 7200
    assert rate_seconds("rate(1 day)") == 86400
    assert rate_seconds("cron(0 20 * * ? *)") is None
    assert rate_seconds("rate(0 minutes)") is None


def test_a_rate_rule_fires_once_per_scaled_period(delivered: list[tuple[str, dict[str, Any]]]) -> None:
    runner = Schedules(shims=None, account=ACCOUNT, region="us-east-1", scale=0.01)  # type: ignore[arg-type]
    assert runner.fire_due(1000.0) == []  # first seen: its period starts now
    assert runner.fire_due(1002.9) == []  # 300 s x 0.01 = 3 s not yet passed
    assert runner.fire_due(1003.0) == ["every-5"]
    assert runner.fire_due(1004.0) == []
    assert runner.fire_due(1006.0) == ["every-5"]
    assert runner.not_run == ["nightly"]  # cron is not run, and says so
    (arn, event), _ = delivered
    assert arn == TARGET
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/every-5"]
    assert event["detail"] == {} and event["account"] == ACCOUNT


def test_held_schedules_fire_nothing(delivered: list[tuple[str, dict[str, Any]]]) -> None:
    runner = Schedules(shims=None, account=ACCOUNT, region="us-east-1", scale=None)  # type: ignore[arg-type]
    runner.fire_due(0.0)
    assert runner.fire_due(10_000.0) == [] and delivered == []
    runner.scale = 0.01  # set later: the rule fires on the next tick past its period
    assert runner.fire_due(10_001.0) == ["every-5"]
