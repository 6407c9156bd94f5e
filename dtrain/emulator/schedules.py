"""EventBridge schedule rules, run: each enabled rule with a `rate(...)` expression invokes its
Lambda targets once per period, as EventBridge does, so the platform's Reconcile (the stack's
`ReconcileSchedule`, rate(5 minutes)) closes what a lost event left open without anyone calling it.

The period is the rule's own times `scale`: 1.0 is AWS's rate (the served emulator and the demo),
a test sets a small scale (0.002: five minutes in 0.6 s). `scale=None` holds the schedules
(the default for tests, whose own `Emulator.reconcile()` calls read the report of the one run).

What EventBridge does that this does not: cron(...) expressions (listed in `not_run`, never
fired), and overlapping invocations (a rule whose last invocation is still running skips its
turn here; EventBridge would invoke again, and the platform's Reconcile is written to survive that).
Event shape: the "Scheduled Event" of https://docs.aws.amazon.com/eventbridge/latest/userguide/
eb-run-lambda-schedule.html (detail-type, source aws.events, the rule's ARN in resources, detail {}).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dtrain.emulator.shims import Shims, deliver_to_lambda_target

# rate(value unit): "the unit must be singular for a value of 1, plural otherwise" (EventBridge's
# schedule expression rules); minute is the smallest unit it accepts.
_RATE = re.compile(r"^rate\((?P<value>[1-9][0-9]*) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
TICK_S = 0.05
AWS_RATE = 1.0  # the scale at which every rule fires at its own rate, as in AWS


def rate_seconds(expression: str) -> float | None:
    """The period of a rate(...) expression in seconds; None for anything else (cron)."""
    match = _RATE.match(expression or "")
    if not match:
        return None
    return int(match["value"]) * _UNIT_S[match["unit"].removesuffix("s")]


def scheduled_event(account: str, region: str, rule_arn: str, now: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass
class Schedules:
    shims: Shims
    account: str
    region: str
    scale: float | None = None
    # rule ARN -> when it last fired (monotonic); a rule first seen starts its period then.
    last_fired: dict[str, float] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)  # rule names, in firing order
    not_run: list[str] = field(default_factory=list)  # rules whose expression is not a rate
    _running: dict[str, list[Future[Any]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="eventbridge-schedules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(TICK_S):
            self.fire_due(time.monotonic())

    def fire_due(self, now: float) -> list[str]:
        """Fire every enabled rate rule whose scaled period has passed since it last fired."""
        from moto.events.models import events_backends  # lazy: moto's backends, inside mock_aws

        scale = self.scale
        fired: list[str] = []
        for bus_rules in _rules_by_bus(events_backends[self.account][self.region]):
            for rule in bus_rules:
                if not rule.scheduled_expression or rule.state != "ENABLED":
                    continue
                period = rate_seconds(rule.scheduled_expression)
                if period is None:
                    if rule.name not in self.not_run:
                        self.not_run.append(rule.name)
                    continue
                last = self.last_fired.setdefault(rule.arn, now)
                if scale is None or now - last < period * scale or self._busy(rule.arn):
                    continue
                self.last_fired[rule.arn] = now
                self._fire(rule)
                fired.append(rule.name)
        self.fired.extend(fired)
        return fired

    def _busy(self, rule_arn: str) -> bool:
        return any(not f.done() for f in self._running.get(rule_arn, []))

    def _fire(self, rule: Any) -> None:
        event = scheduled_event(self.account, self.region, rule.arn, datetime.now(UTC))
        futures = []
        for target in rule.targets:
            if ":lambda:" in target["Arn"]:
                future = deliver_to_lambda_target(self.shims, rule, target, dict(event))
                if future is not None:
                    futures.append(future)
        self._running[rule.arn] = futures


def _rules_by_bus(backend: Any) -> list[list[Any]]:
    return [list(bus.rules.values()) for bus in list(backend.event_buses.values())]
