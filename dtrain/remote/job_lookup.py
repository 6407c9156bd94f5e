"""Resolving what the user names (a job, an execution name or an execution ARN) into its parts.

Users remember either the SageMaker job name (printed by `status`, shown in the console) or
the execution name (printed by `submit`, derived from the spec's job_name). Both work, in
this order: an execution ARN; a job in the ledger (or an endpoint: the execution that deployed
it last); an execution of our state machine with that name; a SageMaker training job of that
name (for jobs whose ledger row has expired).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dtrain.remote.aws import error_code, translate_aws_errors
from dtrain.remote.context import RemoteContext
from dtrain.remote.errors import JobNotFound
from dtrain.remote.failure_cause import UNEXPLAINED_ERROR, first_failure
from dtrain.remote.ledger_view import LedgerRow

TERMINAL_JOB_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
# The ledger row kind of the job an execution runs before training (dtrain.orchestration.job_kinds).
PROCESSING_KIND = "processing"
# A deployed submitter policy older than sagemaker:DescribeProcessingJob answers with these:
# `dtrain status` then shows the processing job's status from the ledger, as it did before.
_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
# Ledger rows of what follows training (dtrain.orchestration.hosting): shown beside the jobs.
HOSTING_KINDS = frozenset({"endpoint", "transform"})


@dataclass
class ResolvedJob:
    query: str
    execution_arn: str | None = None
    execution: dict[str, Any] | None = None  # DescribeExecution response
    rows: list[LedgerRow] = field(default_factory=list)  # ledger rows of the execution
    training_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> Describe
    # Ledger key of an endpoint / transform row -> DescribeEndpoint / DescribeTransformJob.
    hosting: dict[str, dict[str, Any]] = field(default_factory=dict)
    processing_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> Describe

    @property
    def processing_names(self) -> list[str]:
        """The execution's processing jobs (its step before training), in ledger order."""
        return [row.job_name for row in self.rows if row.kind == PROCESSING_KIND]

    @property
    def training_job_names(self) -> list[str]:
        processing = set(self.processing_names)
        return [name for name in self.job_names if name not in processing]

    @property
    def hosting_rows(self) -> list[LedgerRow]:
        return [row for row in self.rows if row.kind in HOSTING_KINDS]

    @property
    def job_names(self) -> list[str]:
        names = [row.job_name for row in self.rows if row.kind not in HOSTING_KINDS]
        names.extend(name for name in self.training_jobs if name not in names)
        return names

    @property
    def job_name(self) -> str | None:
        """The one training job, when there is exactly one (not a sweep, and already created)."""
        names = self.job_names
        return names[0] if len(names) == 1 else None

    @property
    def training_job(self) -> dict[str, Any] | None:
        name = self.job_name
        return self.training_jobs.get(name) if name else None

    @property
    def execution_status(self) -> str | None:
        return str(self.execution["status"]) if self.execution else None


# A name that cannot be an execution's (bad characters, a malformed ARN) names no execution.
_NO_SUCH_EXECUTION = frozenset({"ExecutionDoesNotExist", "InvalidArn", "InvalidName"})


def describe_execution(context: RemoteContext, execution_arn: str) -> dict[str, Any] | None:
    with translate_aws_errors(
        f"describe execution {execution_arn}", passthrough=lambda c: c in _NO_SUCH_EXECUTION
    ):
        try:
            response: dict[str, Any] = context.stepfunctions.describe_execution(executionArn=execution_arn)
        except Exception as exc:
            if error_code(exc) in _NO_SUCH_EXECUTION:
                return None
            raise
    if response.get("status") == "FAILED" and response.get("error") == UNEXPLAINED_ERROR:
        # The failure path failed too: the cause is only in the history (dtrain.remote.failure_cause).
        with translate_aws_errors(f"read the history of {execution_arn}"):
            cause = first_failure(context.stepfunctions, execution_arn)
        if cause:
            response["cause"] = cause
    return response


def _is_missing_training_job(code: str) -> bool:
    # SageMaker answers a missing job with ValidationException "Requested resource not found";
    # moto answers ValidationException too. Both mean "no such job".
    return code in {"ValidationException", "ResourceNotFound"}


def describe_training_job(context: RemoteContext, job_name: str) -> dict[str, Any] | None:
    return _describe_or_none(
        f"describe training job {job_name}",
        lambda: context.sagemaker.describe_training_job(TrainingJobName=job_name),
        quiet=_is_missing_training_job,
    )


def describe_processing_job(context: RemoteContext, job_name: str) -> dict[str, Any] | None:
    """DescribeProcessingJob; None when there is no such job or the caller may not describe it."""
    return _describe_or_none(
        f"describe processing job {job_name}",
        lambda: context.sagemaker.describe_processing_job(ProcessingJobName=job_name),
        quiet=lambda code: _is_missing_training_job(code) or code in _DENIED,
    )


def _describe_or_none(
    what: str, describe: Callable[[], dict[str, Any]], *, quiet: Callable[[str], bool]
) -> dict[str, Any] | None:
    """`describe()`'s answer; None for an error code `quiet` accepts, any other error translated."""
    with translate_aws_errors(what, passthrough=quiet):
        try:
            return describe()
        except Exception as exc:
            if quiet(error_code(exc)):
                return None
            raise


def refresh(context: RemoteContext, resolved: ResolvedJob) -> ResolvedJob:
    """Re-read the execution, its ledger rows and its training jobs (the follow loop's poll)."""
    if resolved.execution_arn:
        resolved.execution = describe_execution(context, resolved.execution_arn) or resolved.execution
        rows = context.ledger.find_by_execution(resolved.execution_arn)
        if rows:
            resolved.rows = rows
    return _describe_jobs(context, resolved)


def _describe_jobs(context: RemoteContext, resolved: ResolvedJob) -> ResolvedJob:
    for name in resolved.processing_names:
        processed = describe_processing_job(context, name)
        if processed is not None:
            resolved.processing_jobs[name] = processed
    for name in resolved.training_job_names:
        described = describe_training_job(context, name)
        if described is not None:
            resolved.training_jobs[name] = described
    for row in resolved.hosting_rows:
        hosted = describe_hosting(context, row)
        if hosted is not None:
            resolved.hosting[row.job_name] = hosted
    return resolved


def describe_hosting(context: RemoteContext, row: LedgerRow) -> dict[str, Any] | None:
    """DescribeEndpoint of an endpoint row's endpoint, DescribeTransformJob of a transform row."""
    name = row.resource
    with translate_aws_errors(f"describe {row.kind} {name}", passthrough=_is_missing_training_job):
        try:
            if row.kind == "endpoint":
                response: dict[str, Any] = context.sagemaker.describe_endpoint(EndpointName=name)
            else:
                response = context.sagemaker.describe_transform_job(TransformJobName=name)
        except Exception as exc:
            if _is_missing_training_job(error_code(exc)):
                return None  # a deleted endpoint, a transform job never created
            raise
    return response


def _latest_deployment(context: RemoteContext, name: str) -> LedgerRow | None:
    """An endpoint's name (not a ledger key: its rows are keyed by config): its newest row."""
    rows = [r for r in context.ledger.list_recent() if r.kind == "endpoint" and r.resource_name == name]
    return rows[0] if rows else None


def resolve(context: RemoteContext, query: str) -> ResolvedJob:
    """Find the job or execution named `query`; JobNotFound (exit 1) when nothing matches."""
    resolved = ResolvedJob(query)
    if query.startswith("arn:") and ":execution:" in query:
        resolved.execution_arn = query
    else:
        row = context.ledger.get(query)
        deployment = _latest_deployment(context, query) if row is None else None
        if row is not None:
            resolved.rows = [row]
            resolved.execution_arn = row.execution_arn
        elif deployment is not None:  # every row of the execution that deployed it, below
            resolved.execution_arn = deployment.execution_arn
        else:
            candidate = context.platform.execution_arn(query)
            if describe_execution(context, candidate) is not None:
                resolved.execution_arn = candidate
    if resolved.execution_arn:
        resolved.execution = describe_execution(context, resolved.execution_arn)
        if resolved.execution is None and not resolved.rows:
            raise JobNotFound(f"no execution {resolved.execution_arn}")
        if not resolved.rows:
            resolved.rows = context.ledger.find_by_execution(resolved.execution_arn)
    elif not resolved.rows:
        described = describe_training_job(context, query)
        if described is None:
            raise JobNotFound(
                f"no job or execution named {query!r} on stack {context.platform.stack_name} "
                f"in {context.region} (dtrain list shows recent jobs)"
            )
        resolved.training_jobs[query] = described
        return resolved
    return _describe_jobs(context, resolved)
