"""The processing step of an execution: plan it, name it, and feed its outputs to training.

A spec with a `processing` block runs one processing job before training (before every
item of a sweep: once, then the Map). Its job is created, adopted, answered, reconciled and
stopped exactly like a training job (dtrain.orchestration.job_kinds); this module holds what
is particular to it:

- Prepare checks its CreateProcessingJob request and derives the callback's timeout;
- its name is a function of the execution (like a training job's), so a retried Submit
  adopts the job it created;
- training channels naming `{"processing_output": NAME}` become S3 channels on that
  output's URI, derived from the processing job's name (the request the job was created with).

The spec core and the requests (dtrain.jobspec.spec, dtrain.requests) are imported inside the
functions that build from them, on purpose: they cost about 0.2 s of a cold start (python -X
importtime under the Lambda Python), which the Submit Lambda's training and
hosting phases (they import this module) never pay.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from dtrain.jobspec.errors import SpecError
from dtrain.orchestration.timeouts import DEFAULT_MARGIN_S, wait_timeout_seconds

DEFAULT_BASE_NAME = "processing"


def has_processing(spec_dict: Mapping[str, Any]) -> bool:
    return spec_dict.get("processing") is not None


def processing_base_name(spec_dict: Mapping[str, Any]) -> str:
    """run.job_name, else base_job_name, else the image's name (as the SDK's default)."""
    from dtrain.jobspec.spec import parse_spec
    from dtrain.requests.processing_request import base_name

    return base_name(parse_spec(spec_dict))


def build_processing_request(spec_dict: Mapping[str, Any], platform: Any, job_name: str) -> dict[str, Any]:
    """The CreateProcessingJob request under `job_name`; a local `code` file is refused: on the
    platform the script is read from S3 (`dtrain submit` uploads a local one)."""
    from dtrain.jobspec.spec import parse_spec
    from dtrain.requests.processing_request import build_processing_job_request

    spec = parse_spec(spec_dict)
    assert spec.processing is not None
    if spec.processing.local_code:
        raise SpecError(
            "processing.run.code",
            spec.processing.code,
            "must be an s3:// URI on the platform (`dtrain submit` uploads a local file)",
        )
    return build_processing_job_request(spec, platform, job_name=job_name)


def prepare_processing(
    spec_dict: Mapping[str, Any], platform: Any, *, validation_job_name: str, margin_s: int = DEFAULT_MARGIN_S
) -> dict[str, Any] | None:
    """The plan's `processing` entry (its callback's timeout), or None without a processing block."""
    if not has_processing(spec_dict):
        return None
    request = build_processing_request(spec_dict, platform, validation_job_name)
    # ProcessingStoppingCondition.MaxRuntimeInSeconds, as a training job's: the default is a day.
    return {"timeout_seconds": wait_timeout_seconds(request, margin_s)}


def training_spec(spec_dict: Mapping[str, Any], platform: Any, processing_job_name: str) -> dict[str, Any]:
    """The spec training runs with: each `{"processing_output": NAME}` channel replaced by the S3
    URI output NAME of the processing job `processing_job_name` was written to, and the
    processing block left out (it ran already)."""
    from dtrain.jobspec.spec import parse_spec
    from dtrain.requests.processing_request import processing_output_uris

    spec = parse_spec(spec_dict)
    out = copy.deepcopy(dict(spec_dict))
    out.pop("processing", None)
    if not spec.processing_channels:
        return out
    uris = processing_output_uris(spec, platform, job_name=processing_job_name)
    inputs = dict(out.get("inputs") or {})
    for channel, output in spec.processing_channels.items():
        inputs[channel] = uris[output]
    out["inputs"] = inputs
    return out
