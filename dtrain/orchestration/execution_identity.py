"""What names and tags an execution's resources: the ownership tag every job and hosting resource
carries, and the readable stem of the names Submit and the hosting phases derive. Submit and the
hosting phases both use them (they sat in submit.py, which made hosting import Submit back)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from dtrain.jobspec.spec_rules import EXECUTION_TAG_KEY

EXECUTION_TAG = EXECUTION_TAG_KEY  # one constant with the validation that leaves room for it
DEFAULT_BASE_NAME = "job"


def execution_tag_value(execution_arn: str, execution_start: str = "") -> str:
    """The ownership tag: the execution ARN and, since a name (so an ARN) may be used again
    after 90 days, its start time. Tag values hold 256 characters: a digest beyond that."""
    value = f"{execution_arn}@{execution_start}" if execution_start else execution_arn
    if len(value) <= 256:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def base_name(spec_dict: Mapping[str, Any]) -> str:
    estimator = spec_dict.get("estimator") or {}
    name = spec_dict.get("job_name") or estimator.get("base_job_name") or DEFAULT_BASE_NAME
    return str(name)
