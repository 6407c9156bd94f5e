"""Events onto the emulated default EventBridge bus: SageMaker's state changes (lifecycle.events)
and Step Functions' execution status changes (shims) go through `put_event`, which tests and the
service behaviours patch as `event_bus.put_event`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def put_event(
    account: str, region: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]
) -> None:
    from moto.events.models import events_backends

    events_backends[account][region].put_events(
        [
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=json_default),
                "Resources": resources,
                "EventBusName": "default",
            }
        ]
    )


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return str(value)
