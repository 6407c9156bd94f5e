"""Prepare and Submit: spec -> request -> one job per (execution, kind, item).

Prepare (plain Lambda invoke) validates the spec and plans the run: the wait timeout,
the processing step's when the spec has one, and, for a sweep, one item per override.
Submit (waitForTaskToken) creates the job (a processing job, `kind: processing`, or a
training job) idempotently:

1. An open row of this execution and item (a Submit retried after it created the job) is
   adopted: the row gets the fresh token and no second job is created. "This execution" is
   its ARN *and* its start time: a name, so an ARN, may be used again after 90 days.
2. Otherwise the ledger row is written *before* CreateTrainingJob, so the state-change event
   always finds the token, under the deterministic name from dtrain.jobspec.naming.
3. ResourceInUse on create means the job exists: adopted if its tag names this execution.
4. A job that is already terminal when Submit finishes is answered at once (the event may
   have come and gone while the row still held the previous attempt's token).
5. A job created after its execution ended (an abort while Submit was in its throttle
   back-off) is stopped here: the abort found no job to stop.

The spec core and the requests (dtrain.jobspec.spec, dtrain.requests) are imported inside the
functions that build from them, on purpose: they cost about 0.2 s of a cold start (python -X
importtime under the Lambda Python), which a Submit container pays only once one
of its phases builds from them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from dtrain.jobspec.digests import ledger_spec_digest
from dtrain.jobspec.errors import SpecError
from dtrain.jobspec.experiment_config import sweep_trial_config
from dtrain.jobspec.naming import job_name_for
from dtrain.jobspec.platform import PlatformSettings
from dtrain.orchestration import observability
from dtrain.orchestration.backoff import BackoffPolicy, call_with_backoff, is_transient
from dtrain.orchestration.capacity import capacity_error
from dtrain.orchestration.errors import (
    CapacityWait,
    CreateThrottled,
    InvalidEvent,
    JobNameConflict,
    QuotaTooSmall,
    SageMakerTransient,
)
from dtrain.orchestration.events import execution_running, stop_job
from dtrain.orchestration.execution_identity import EXECUTION_TAG, base_name, execution_tag_value
from dtrain.orchestration.execution_plan import planned_state
from dtrain.orchestration.experiment_entities import ensure_experiment_entities
from dtrain.orchestration.hosting import hosting_plan
from dtrain.orchestration.job_kinds import PROCESSING, TRAINING, job_kind
from dtrain.orchestration.ledger import STOPPING, SUBMITTING, WATCHED_STATUSES, Ledger, LedgerRow, RowExists
from dtrain.orchestration.observability import Metric
from dtrain.orchestration.outcome import TERMINAL_STATUSES, close_row, outcome_from_describe
from dtrain.orchestration.ownership import DEFAULT_TEAM, owner_tags
from dtrain.orchestration.payloads import SubmitPayload
from dtrain.orchestration.processing import (
    build_processing_request,
    has_processing,
    prepare_processing,
    processing_base_name,
    training_spec,
)
from dtrain.orchestration.sweep import apply_overrides, split_sweep
from dtrain.orchestration.team_capacity import TeamCapacity, capacity_key, release, request_instances
from dtrain.orchestration.timeouts import DEFAULT_MARGIN_S, wait_timeout_seconds

log = logging.getLogger(__name__)


def sagemaker_client(region: str | None = None, session: Any = None) -> Any:
    """SageMaker for every call but CreateTrainingJob: botocore's standard retry mode, so a
    5xx, a time-out or a throttled Describe/ListTags is retried with backoff before it fails.
    Made from `session` (a Lambda environment's: dtrain.orchestration.environment_clients), else
    from boto3's default session."""
    maker = session if session is not None else boto3
    return maker.client("sagemaker", region_name=region, config=Config(retries={"mode": "standard"}))


def sagemaker_create_client(region: str | None = None, session: Any = None) -> Any:
    """SageMaker for CreateTrainingJob only: botocore's retries off, our full-jitter loop on.

    With both, every attempt of ours would be up to 3 of botocore's, compounding the load
    on an already throttled API (about 1 create per second per account).
    """
    maker = session if session is not None else boto3
    return maker.client("sagemaker", region_name=region, config=Config(retries={"total_max_attempts": 1}))


def _build_request(spec_dict: Mapping[str, Any], platform: Any, job_name: str, region: str | None) -> Any:
    from dtrain.jobspec.spec import parse_spec
    from dtrain.requests.training_request import build_training_job_request

    return build_training_job_request(parse_spec(spec_dict), platform, job_name=job_name, region=region)


def spec_summary(spec_dict: Mapping[str, Any], kind: str = TRAINING) -> str:
    if kind == PROCESSING:  # the processing step's row: its processor, not the estimator
        processor = (spec_dict.get("processing") or {}).get("processor") or {}
        return json.dumps(
            {
                "kind": PROCESSING,
                "image_uri": processor.get("image_uri"),
                "instance_type": processor.get("instance_type"),
                "instance_count": processor.get("instance_count"),
            },
            separators=(",", ":"),
        )
    est = spec_dict.get("estimator") or {}
    return json.dumps(
        {
            "framework": spec_dict.get("framework"),
            "entry_point": est.get("entry_point"),
            "instance_type": est.get("instance_type"),
            "instance_count": est.get("instance_count"),
            "spot": bool(est.get("use_spot_instances")),
        },
        separators=(",", ":"),
    )


def validation_job_name(spec_dict: Mapping[str, Any], platform: Any) -> str:
    """A job name that is always valid, for validating the request in Prepare.

    `<job_name>-validate` was not: a 55-56 character job_name that `dtrain validate` accepts
    became 64-65 characters here and failed with a job_name error that was not the user's.
    """
    prefix = str(getattr(platform, "job_name_prefix", "") or "")
    return job_name_for(base_name(spec_dict), execution_name="validate", prefix=prefix)


def platform_for_team(platform: PlatformSettings, team: str) -> PlatformSettings:
    """The settings an execution of `team`'s state machine runs with (the payload's team, a
    literal of that state machine's definition): the team's own on a platform with teams, the
    platform's as they are without. InvalidEvent for a payload whose team the platform lacks."""
    if not platform.teams and not team:
        return platform
    if not team:
        raise InvalidEvent(f"this platform has teams ({', '.join(platform.teams)}): the payload names none")
    try:
        return platform.for_team(team)
    except SpecError as exc:
        raise InvalidEvent(str(exc)) from None


def prepare(
    spec_dict: Mapping[str, Any], platform: Any, *, region: str | None, margin_s: int = DEFAULT_MARGIN_S
) -> dict[str, Any]:
    """Validate the spec (every sweep item too) and plan the execution. Raises SpecError(s)."""
    if not isinstance(spec_dict, Mapping):
        raise InvalidEvent("the execution input must be a job spec object")
    base, sweep = split_sweep(spec_dict)
    # What the platform refuses before any request is built: a role it may not pass, an image
    # its execution role may not pull (dtrain.requests.platform_grants), as `dtrain validate --platform`.
    from dtrain.jobspec.spec import parse_spec
    from dtrain.requests.platform_grants import check_grants
    from dtrain.requests.team_reach import check_team_reach

    # Another team's data, model, endpoint or role: one line naming the field (issue 29).
    check_team_reach(spec_dict, platform)
    check_grants(parse_spec(spec_dict), platform)
    overrides_list = [o for o in sweep.overrides] if sweep else [{}]
    item_timeouts = []
    # (operation, label, request) of every job the execution starts: the team's guardrails
    # judge them as `dtrain validate --platform` does (dtrain.requests.team_guardrails).
    jobs: list[tuple[str, str, Mapping[str, Any]]] = []
    for index, overrides in enumerate(overrides_list):
        item_spec = apply_overrides(base, overrides) if overrides else base
        request = _build_request(item_spec, platform, validation_job_name(base, platform), region)
        item_timeouts.append(wait_timeout_seconds(request, margin_s))
        jobs.append((_CREATE_TRAINING, f"{_CREATE_TRAINING} (item {index})", request))
    processing = prepare_processing(
        base, platform, validation_job_name=validation_job_name(base, platform), margin_s=margin_s
    )
    _check_guardrails(base, platform, jobs)
    # Deploy or transform after Finalize: one block, its own inference code in S3 already.
    hosting_plan(base, platform, is_sweep=sweep is not None)
    # The plan, its state checked against Step Functions' limit (as validate and submit check it).
    return planned_state(
        spec_dict,
        item_timeouts=item_timeouts,
        processing_timeout=processing["timeout_seconds"] if processing is not None else None,
        output_uri=str(getattr(platform, "output_s3_uri", "") or ""),
    )


_CREATE_TRAINING = "CreateTrainingJob"


def _check_guardrails(
    base: Mapping[str, Any], platform: Any, jobs: list[tuple[str, str, Mapping[str, Any]]]
) -> None:
    """Refuse (SpecError(s)) a job past the team's guardrails, before any is created: the team's
    Deny statements would refuse the create itself, but only after the processing step ran."""
    limits = getattr(platform, "guardrails", None)
    if limits is None or not limits.any:
        return
    from dtrain.jobspec.errors import SpecErrors
    from dtrain.requests.team_guardrails import PROCESSING as CREATE_PROCESSING
    from dtrain.requests.team_guardrails import guardrail_problems

    if has_processing(base):
        request = build_processing_request(base, platform, validation_job_name(base, platform))
        jobs = [(CREATE_PROCESSING, CREATE_PROCESSING, request), *jobs]
    if base.get("transform") is not None and jobs:
        # The transform job is created after training, by the `transform` phase: held to the
        # team's instance types too (its Deny covers CreateTransformJob).
        from dtrain.jobspec.spec import parse_spec
        from dtrain.requests.inference_request import build_transform_job_request
        from dtrain.requests.team_guardrails import TRANSFORM as CREATE_TRANSFORM

        training_job = str(jobs[-1][2].get("TrainingJobName", ""))
        transform = build_transform_job_request(parse_spec(base), platform, training_job_name=training_job)
        jobs = [*jobs, (CREATE_TRANSFORM, CREATE_TRANSFORM, transform)]
    problems = guardrail_problems(jobs, platform)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecErrors(problems)


@dataclass(frozen=True)
class SubmitRequest:
    """The Submit task's payload, as the state machine builds it."""

    spec: Mapping[str, Any]
    task_token: str
    execution_arn: str
    execution_name: str
    retry_count: int = 0
    item_index: int = 0
    overrides: Mapping[str, Any] = field(default_factory=dict)
    is_sweep_item: bool = False
    execution_start: str = ""  # $$.Execution.StartTime
    kind: str = TRAINING  # dtrain.orchestration.job_kinds
    # A training Submit after the processing step: its callback output ({"job_name": ...}).
    processing: Mapping[str, Any] | None = None
    # $$.Execution.RedriveCount: a redriven execution reruns the Submit that was aborted (or timed
    # out); the job of the earlier attempt was stopped by the execution's end, so this one is new.
    redrive_count: int = 0

    @classmethod
    def from_payload(cls, payload: SubmitPayload) -> SubmitRequest:
        """The request of a `process` or `submit` payload (parsed by dtrain.orchestration.payloads)."""
        return cls(
            spec=payload.spec,
            task_token=payload.task_token,
            execution_arn=payload.execution_arn,
            execution_name=payload.execution_name,
            retry_count=payload.retry_count,
            item_index=payload.item_index or 0,
            overrides=payload.overrides,
            is_sweep_item=payload.is_sweep_item,
            execution_start=payload.execution_start,
            kind=PROCESSING if payload.phase == "process" else TRAINING,
            processing=payload.processing or None,
            redrive_count=payload.redrive_count,
        )

    def item_spec(self) -> dict[str, Any]:
        return apply_overrides(self.spec, self.overrides) if self.overrides else dict(self.spec)

    def job_spec(self, platform: Any) -> dict[str, Any]:
        """The spec this Submit's job runs: a processing job the base spec; a training job its
        item's, reading the processing outputs when the processing step ran."""
        spec = self.item_spec()
        if self.kind == TRAINING and self.processing and has_processing(spec):
            spec = training_spec(spec, platform, str(self.processing["job_name"]))
        if self.kind == TRAINING and self.is_sweep_item:
            spec["experiment_config"] = sweep_trial_config(
                spec.get("experiment_config"), sweep_name=self.execution_name, index=self.item_index
            )
        return spec

    def job_name(self, prefix: str) -> str:
        # Sweep items share the execution: the item index keeps their names apart. The start
        # time keeps a name reused after 90 days from deriving the old execution's job names.
        execution = f"{self.execution_name}-{self.item_index}" if self.is_sweep_item else self.execution_name
        base = base_name(self.spec)
        if self.kind == PROCESSING:
            execution, base = f"{execution}-processing", processing_base_name(self.spec)
        if self.execution_start:
            execution = f"{execution}@{self.execution_start}"
        # Not the retry count: a retried Submit finds its row by the by_execution index, which is
        # eventually consistent (DynamoDB Developer Guide, "Read consistency for global secondary
        # indexes": GSI reads are eventually consistent only), and a Retry with full jitter may
        # come within milliseconds. With the same name, a row the index does not show yet is
        # found by the base table's conditional put (RowExists) and its job by ResourceInUse.
        return job_name_for(base, execution_name=execution, redrive_count=self.redrive_count, prefix=prefix)

    @property
    def owner_tag(self) -> str:
        return execution_tag_value(self.execution_arn, self.execution_start)

    def owns(self, row: LedgerRow) -> bool:
        return row.execution_arn == self.execution_arn and row.execution_start == self.execution_start

    def same_attempt(self, row: LedgerRow) -> bool:
        """The row of this redrive attempt: a retry adopts it; an earlier attempt's is not adopted
        (its job was stopped when that attempt ended, and adopting it would answer Stopped)."""
        return self.owns(row) and row.redrive_count == self.redrive_count


@dataclass(frozen=True)
class SubmitResult:
    job_name: str
    adopted: bool
    answered_now: bool = False


class Submitter:
    def __init__(
        self,
        *,
        ledger: Ledger,
        sagemaker: Any,
        sfn: Any,
        platform: Any,
        region: str | None,
        backoff: BackoffPolicy | None = None,
        sagemaker_create: Any = None,
    ) -> None:
        self.ledger = ledger
        self.sagemaker = sagemaker
        # CreateTrainingJob goes through a client without botocore's retries (see
        # sagemaker_create_client); tests may pass one client for both.
        self.sagemaker_create = sagemaker_create if sagemaker_create is not None else sagemaker
        self.sfn = sfn
        self.platform = platform
        self.region = region
        self.backoff = backoff or BackoffPolicy()

    def _prefix(self) -> str:
        return str(getattr(self.platform, "job_name_prefix", "") or "")

    def _open_row_of(self, req: SubmitRequest) -> LedgerRow | None:
        """The row of this execution and item, open or not: a retried Submit adopts it.

        Closed ones too: the job may have finished (its event answering the failed attempt's
        token) before the retry ran; adopting answers the retry's token at once instead of
        creating a second job. A redrive of an aborted or timed-out execution reruns this Submit
        (RedriveExecution continues "from the unsuccessful step"): it adopts only a row of its own
        attempt, so it trains again instead of answering with the job the abort stopped.
        """
        rows = [
            r
            for r in self.ledger.find_by_execution(req.execution_arn)
            if r.item_index == req.item_index and r.kind == req.kind and req.same_attempt(r)
        ]
        return rows[-1] if rows else None

    def _describe(self, job_name: str, kind: str = TRAINING) -> dict[str, Any] | None:
        return job_kind(kind).describe_job(self.sagemaker, job_name)

    def _belongs_to(self, req: SubmitRequest, job: Mapping[str, Any]) -> bool:
        arn = job.get(job_kind(req.kind).arn_key)
        if not arn:
            return False
        tags = self.sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
        return any(t.get("Key") == EXECUTION_TAG and t.get("Value") == req.owner_tag for t in tags)

    def _create(self, req: SubmitRequest, job_name: str) -> None:
        kind = job_kind(req.kind)
        if req.kind == PROCESSING:
            request = build_processing_request(req.item_spec(), self.platform, job_name)
        else:
            request = _build_request(req.job_spec(self.platform), self.platform, job_name, self.region)
        # SageMaker refuses a job whose ExperimentConfig names an experiment or trial that does
        # not exist (dtrain.orchestration.experiment_entities): a sweep's is named after it.
        for entity in ensure_experiment_entities(self.sagemaker, request.get("ExperimentConfig")):
            log.info("created the %s that %s names", entity, job_name)
        request["Tags"] = owner_tags(
            request.get("Tags", []),
            execution=req.owner_tag,
            team=str(getattr(self.platform, "team", "") or DEFAULT_TEAM),
        )
        create = getattr(self.sagemaker_create, kind.create)
        holds = self._hold_team_capacity(job_name, kind.create, request)
        try:
            call_with_backoff(
                lambda: create(**request),
                self.backoff,
                on_throttle=lambda: observability.count(Metric.THROTTLED_CREATES),
            )
        except CreateThrottled:
            if holds:  # refused: no job will end to give the team's capacity back
                self.ledger.release_capacity(job_name)
            raise
        except ClientError as err:
            waiting = capacity_error(err)
            code = err.response["Error"]["Code"]
            if holds and (waiting is not None or (code != "ResourceInUse" and not is_transient(err))):
                # Refused for certain (the account's quota, a validation, AccessDenied): the
                # team's hold goes back. A transient failure keeps it: the job may exist, and
                # the retry adopts it.
                self.ledger.release_capacity(job_name)
            if waiting is not None:
                raise waiting from err
            if code != "ResourceInUse":
                raise
            job = self._describe(job_name, req.kind)
            if job is None or not self._belongs_to(req, job):
                if holds:
                    self.ledger.release_capacity(job_name)
                raise JobNameConflict(
                    f"a {kind.noun} named {job_name} exists and does not belong to {req.owner_tag}"
                ) from err
            log.info("adopting %s after ResourceInUse", job_name)

    def _hold_team_capacity(self, job_name: str, operation: str, request: Mapping[str, Any]) -> bool:
        """Hold the job's instances in its team's quota (dtrain.orchestration.team_capacity)
        before it is created; CapacityWait (the state machine retries) while the team's running
        jobs leave too few. False: the team has no quota (nothing held)."""
        guardrails = getattr(self.platform, "guardrails", None)
        quota = getattr(guardrails, "quota_instances", None)
        if not quota:
            return False
        instances = request_instances(operation, request)
        team = str(getattr(self.platform, "team", "") or DEFAULT_TEAM)
        if instances > quota:  # Prepare refuses it first (dtrain.requests.team_guardrails)
            raise QuotaTooSmall(f"the job needs {instances} instances; team {team}'s quota is {quota}")
        key = capacity_key(self._prefix())
        self.ledger.note_capacity(job_name, key)
        capacity = TeamCapacity(self.ledger.client, self.ledger.table_name, key, quota)
        if not capacity.hold(job_name, instances) and not (
            self._release_stale_holds(capacity) and capacity.hold(job_name, instances)
        ):
            held = sum(capacity.holders().values())
            raise CapacityWait(
                f"waiting for team {team}'s capacity: its running jobs hold {held} of its {quota}"
                f" instances and this job needs {instances}"
            )
        return True

    def _release_stale_holds(self, capacity: TeamCapacity) -> bool:
        """Give back what jobs that cannot run any more still hold (their row's final status was
        recorded but its release failed: a throttled write, a Lambda that died in between), so a
        lost release never shrinks the team's quota for good. Read only when the team is full:
        at most one GetItem per holder. True when something was given back."""
        released = False
        for job in capacity.holders():
            row = self.ledger.get(job)
            if row is None or row.status not in WATCHED_STATUSES:
                log.info("giving back %s's stale hold in %s", job, capacity.key)
                released = release(self.ledger.client, self.ledger.table_name, capacity.key, job) or released
        return released

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """Create (or adopt) the job; transient SageMaker failures surface as SageMakerTransient."""
        try:
            return self._submit(req)
        except (ClientError, ConnectionError, HTTPClientError) as err:
            if is_transient(err):
                raise SageMakerTransient(f"SageMaker failed transiently: {err}") from err
            raise

    def _submit(self, req: SubmitRequest) -> SubmitResult:
        adopted = False
        row = self._open_row_of(req)
        if row is not None:
            job_name, adopted = row.job_name, True
            observability.correlate(job_name=job_name)
            self.ledger.adopt(job_name, req.task_token)
            log.info("adopting %s for retry %d of %s", job_name, req.retry_count, req.execution_name)
            if self._describe(job_name, req.kind) is None:
                self._create(req, job_name)  # the earlier attempt died between ledger and create
        else:
            job_name = req.job_name(self._prefix())
            observability.correlate(job_name=job_name)
            try:
                self.ledger.put_submitted(
                    job_name=job_name,
                    execution_arn=req.execution_arn,
                    execution_name=req.execution_name,
                    task_token=req.task_token,
                    spec_digest=ledger_spec_digest(req.item_spec()),
                    spec_summary=spec_summary(req.item_spec(), req.kind),
                    item_index=req.item_index,
                    execution_start=req.execution_start,
                    kind=req.kind,
                    redrive_count=req.redrive_count,
                )
            except RowExists as exists:
                if not req.owns(exists.row):
                    raise JobNameConflict(
                        f"ledger row {job_name} belongs to {exists.row.execution_arn}"
                        f" started {exists.row.execution_start or '?'}"
                    ) from exists
                adopted = True
                self.ledger.adopt(job_name, req.task_token)
            self._create(req, job_name)
        job = self._describe(job_name, req.kind)
        status = str(job[job_kind(req.kind).status_key]) if job else SUBMITTING
        if job is not None and status == "InProgress" and not execution_running(self.sfn, req.execution_arn):
            # The execution ended while this Submit was creating the job (an abort during the
            # throttle back-off): its abort found no job to stop, so this Submit stops it.
            log.info("execution %s ended while %s was created: stopping it", req.execution_name, job_name)
            stop_job(self.sagemaker, job_name, req.kind)
            self.ledger.set_status(job_name, STOPPING)
            return SubmitResult(job_name=job_name, adopted=adopted)
        self.ledger.set_status(job_name, status, only_if_open=True)
        answered = False
        if job is not None and status in TERMINAL_STATUSES:
            current = self.ledger.get(job_name)
            if current is not None:
                answered = close_row(self.sfn, self.ledger, current, outcome_from_describe(job, req.kind))
        return SubmitResult(job_name=job_name, adopted=adopted, answered_now=answered)
