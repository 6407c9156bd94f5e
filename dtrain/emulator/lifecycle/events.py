"""SageMaker's state-change events, built field for field from AWS's published samples.

The samples (samples/*.json, from "Events that Amazon SageMaker AI sends to Amazon
EventBridge", https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html)
fix each event's detail: which fields, in which order, in which form. `build_detail` takes a
resource's Describe* answer and writes the sample's fields from it:

- a field the resource does not have is left out (AWS omits unset optional fields);
- timestamps take the sample's form: the training sample writes a string of milliseconds
  ("1583831889050"), the processing sample a number of milliseconds, the endpoint sample a
  float of milliseconds, the transform sample an ISO time; timestamps inside nested values
  (SecondaryStatusTransitions) take the form of the sample's CreationTime;
- `Tags` is a map, as in every sample;
- the endpoint's `EndpointStatus` is upper snake case, as the sample's IN_SERVICE
  (InService -> IN_SERVICE, OutOfService -> OUT_OF_SERVICE);
- `FailureReason` is added when the resource has one: "If the value of TrainingJobStatus is
  Failed, the event contains the FailureReason field" (the same page, for training and
  transform jobs; the processing sample carries it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from dtrain.emulator import event_bus
from dtrain.orchestration.job_kinds import ENDPOINT, KINDS, PROCESSING, TRAINING, TRANSFORM

SAMPLES_DIR: Final = Path(__file__).with_name("samples")
SOURCE_PAGE: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html"
)
# The detail-types the orchestration's rules match: the one job-kind table's.
TRAINING_JOB_STATE_CHANGE: Final = KINDS[TRAINING].event_detail_type
PROCESSING_JOB_STATE_CHANGE: Final = KINDS[PROCESSING].event_detail_type
TRANSFORM_JOB_STATE_CHANGE: Final = KINDS[TRANSFORM].event_detail_type
ENDPOINT_STATE_CHANGE: Final = KINDS[ENDPOINT].event_detail_type
SAMPLE_FILES: Final[Mapping[str, str]] = {
    TRAINING_JOB_STATE_CHANGE: "training_job_state_change.json",
    PROCESSING_JOB_STATE_CHANGE: "processing_job_state_change.json",
    TRANSFORM_JOB_STATE_CHANGE: "transform_job_state_change.json",
    ENDPOINT_STATE_CHANGE: "endpoint_state_change.json",
}
_TIME_FIELD = re.compile(r"(Time|Date)$")


@cache
def sample(detail_type: str) -> dict[str, Any]:
    """AWS's published example event of this detail-type (the whole event)."""
    loaded: dict[str, Any] = json.loads((SAMPLES_DIR / SAMPLE_FILES[detail_type]).read_text())
    return loaded


def upper_snake(status: str) -> str:
    """InService -> IN_SERVICE (EndpointStatus in the endpoint event)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", status).upper()


def _epoch_ms(value: datetime) -> int:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def _in_form(value: datetime, form: Any) -> Any:
    """`value` written as the sample writes its timestamp `form`."""
    if isinstance(form, float):
        return float(_epoch_ms(value))
    if isinstance(form, int):
        return _epoch_ms(value)
    if isinstance(form, str) and form.isdigit():
        return str(_epoch_ms(value))
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nested(value: Any, form: Any) -> Any:
    if isinstance(value, datetime):
        return _in_form(value, form)
    if isinstance(value, Mapping):
        return {k: _nested(v, form) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nested(v, form) for v in value]
    return value


def tag_map(tags: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None) -> dict[str, str]:
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags}


def build_detail(
    detail_type: str, describe: Mapping[str, Any], tags: Iterable[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The event's detail for a resource whose Describe* answer is `describe`."""
    shape: dict[str, Any] = sample(detail_type)["detail"]
    time_form = shape.get("CreationTime")
    detail: dict[str, Any] = {}
    for key, form in shape.items():
        if key == "Tags":
            detail["Tags"] = tag_map(tags)
            continue
        if key not in describe or describe[key] is None:
            continue
        value = describe[key]
        if isinstance(value, datetime) and _TIME_FIELD.search(key):
            detail[key] = _in_form(value, form)
        elif key == "EndpointStatus":
            detail[key] = upper_snake(str(value))
        else:
            detail[key] = _nested(value, time_form)
    if describe.get("FailureReason") and "FailureReason" not in detail:
        detail["FailureReason"] = describe["FailureReason"]
    return detail


def put_state_change(backend: Any, detail_type: str, resource: Any) -> dict[str, Any]:
    """Put `resource`'s (a moto SageMaker object's) state-change event on the emulated bus."""
    detail = build_detail(detail_type, dict(resource.response_object), getattr(resource, "tags", None))
    event_bus.put_event(
        backend.account_id, backend.region_name, "aws.sagemaker", detail_type, detail, [str(resource.arn)]
    )
    return detail
