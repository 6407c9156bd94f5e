"""Deterministic training job names.

A Step Functions task may run twice (a retry after a timeout, a redrive after a failure).
The name of the job it creates is a pure function of the execution's identity, so the
second attempt finds the job the first one created (CreateTrainingJob answers
ResourceInUse) instead of starting a second one; a deliberate retry or redrive gets a new
identity and therefore a new name. The hash suffix keeps names of different identities
apart even when the readable part has to be cut to fit SageMaker's 63 characters.
"""

from __future__ import annotations

import re

from dtrain.jobspec.digests import identity_digest
from dtrain.jobspec.errors import SpecError


def name_pattern(max_length: int) -> str:
    """SageMaker's name rule, unanchored: letters and digits, inner dashes, 1 to `max_length`.

    The service writes it `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$` for TrainingJobName,
    ProcessingJobName, TransformJobName, ModelName and EndpointName (63 characters) and with
    {0,119} for ExperimentEntityName (botocore's SageMaker model, the shapes' `pattern`).
    """
    return rf"[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,{max_length - 1}}}"


# The one source of the job / model / endpoint name rule: the spec's checks, the JSON Schema,
# the request builders and the emulator all read these.
MAX_JOB_NAME_LENGTH = 63
JOB_NAME_RE = re.compile(name_pattern(MAX_JOB_NAME_LENGTH))
JOB_NAME_PATTERN = re.compile(f"^{JOB_NAME_RE.pattern}$")
JOB_NAME_RULE = f"must match ^{JOB_NAME_RE.pattern}$ (at most {MAX_JOB_NAME_LENGTH} characters)"
_INVALID_RUNS = re.compile(r"[^a-zA-Z0-9]+")


def sanitize_name_part(text: str) -> str:
    """Letters, digits and single dashes only, no dash at either end."""
    return _INVALID_RUNS.sub("-", text).strip("-")


def is_valid_job_name(name: object) -> bool:
    # fullmatch: `$` alone would also match before a trailing newline.
    return isinstance(name, str) and JOB_NAME_RE.fullmatch(name) is not None


def prefixed_name(field: str, name: str, prefix: str) -> str:
    """A user-given name under the platform's prefix (the stack's IAM matches on it).

    Raises SpecError when the name breaks the rule, or grows past it with the prefix.
    """
    if not is_valid_job_name(name):
        raise SpecError(field, name, JOB_NAME_RULE)
    if not prefix or name == prefix or name.startswith(f"{prefix}-"):
        return name
    full = f"{prefix}-{name}"
    if len(full) > MAX_JOB_NAME_LENGTH:
        raise SpecError(
            field,
            name,
            f"with the platform's prefix {prefix!r} it is longer than {MAX_JOB_NAME_LENGTH} characters",
        )
    return full


def job_name_for(
    base: str,
    *,
    execution_name: str,
    retry_count: int = 0,
    redrive_count: int = 0,
    prefix: str = "",
) -> str:
    """`<prefix>-<base>-<hash>`: valid, at most 63 characters, one name per identity.

    The hash covers every input, so two identities that differ anywhere get different
    names; the readable base is cut (never the prefix, which IAM policies match on, and
    never the hash) when the whole would be too long.
    """
    if retry_count < 0 or redrive_count < 0:
        raise ValueError("retry_count and redrive_count are counts (>= 0)")
    clean_prefix = sanitize_name_part(prefix)
    digest = identity_digest(clean_prefix, base, execution_name, str(retry_count), str(redrive_count))
    head = f"{clean_prefix}-" if clean_prefix else ""
    room = MAX_JOB_NAME_LENGTH - len(head) - len(digest) - 1
    if room < 1:
        raise ValueError(f"job name prefix {prefix!r} leaves no room for a name")
    clean_base = sanitize_name_part(base)[:room].rstrip("-") or "job"
    # A base that starts with the prefix already ("dtrain-x" under prefix "dtrain") is not doubled.
    if clean_prefix and (clean_base == clean_prefix or clean_base.startswith(f"{clean_prefix}-")):
        head = ""
        clean_base = sanitize_name_part(base)[: MAX_JOB_NAME_LENGTH - len(digest) - 1].rstrip("-")
    name = f"{head}{clean_base}-{digest}"
    assert is_valid_job_name(name), name  # guaranteed by construction; a failure is a bug here
    return name
