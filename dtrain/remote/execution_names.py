"""Execution names derived from the job, so that submitting the same job twice starts one job.

Step Functions refuses a second execution with the same name on a Standard state machine
(for 90 days), and answers a repeated StartExecution with the same name and input with the
running execution. Naming the execution after the job therefore makes `dtrain submit`
idempotent without any state on this side:

- a spec with `job_name` runs as the execution of that name;
- a spec without one runs as `<base>-<digest>`, where the digest covers the spec and the
  packaged source code: the same spec and code give the same name, an edited one a new name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from dtrain.jobspec.digests import execution_spec_digest
from dtrain.remote.errors import UsageError

# Step Functions allows 1-80 characters without whitespace, brackets, wildcards and
# punctuation (StartExecution, `name`:
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html);
# we keep to the subset that is also a valid SageMaker job-name stem. The pattern says which
# characters; the length is counted separately (a `{0,79}` on a group counts groups, so a
# hyphenated name of 121 characters would pass it).
MAX_EXECUTION_NAME = 80
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9](?:-*[A-Za-z0-9])*$")
_NOT_NAME_CHARS = re.compile(r"[^A-Za-z0-9]+")
DIGEST_CHARS = 12
# Leave room for "-" + digest within Step Functions' 80 characters and SageMaker's 63 (the
# Submit Lambda appends its own suffix to the execution name when it derives the job name).
_MAX_BASE = 40


def check_execution_name(name: str) -> str:
    if len(name) > MAX_EXECUTION_NAME or not _EXECUTION_NAME.match(name):
        raise UsageError(
            f"--name: {name!r}: execution names are 1-{MAX_EXECUTION_NAME} letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


def base_name(raw_spec: Mapping[str, object]) -> str:
    """A readable stem: the estimator's base_job_name, else the entry point's file stem."""
    estimator = raw_spec.get("estimator")
    candidates: list[object] = []
    if isinstance(estimator, Mapping):
        candidates.append(estimator.get("base_job_name"))
        entry_point = estimator.get("entry_point")
        if isinstance(entry_point, str):
            candidates.append(PurePosixPath(entry_point).stem)
    for candidate in candidates:
        if isinstance(candidate, str):
            stem = _NOT_NAME_CHARS.sub("-", candidate).strip("-")[:_MAX_BASE].strip("-")
            if stem:
                return stem
    return "dtrain"


def execution_name_for(raw_spec: Mapping[str, object], *, source_digest: str | None = None) -> str:
    """The execution name of a spec (see the module docstring)."""
    job_name = raw_spec.get("job_name")
    if isinstance(job_name, str) and job_name:
        return check_execution_name(job_name)
    digest = execution_spec_digest(raw_spec, source_digest)[:DIGEST_CHARS]
    return f"{base_name(raw_spec)}-{digest}"
