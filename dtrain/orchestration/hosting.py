"""After training: the model, then an endpoint (create or update) or a transform job.

The Submit Lambda's phases, called by the state machine after Finalize (or RankSweep):

- `model` (plain invoke): CreateModel from the trained job's ModelArtifacts.S3ModelArtifacts;
  a block with inference code of its own (entry_point / source_dir, uploaded by submit) first
  repacks that archive with the code under code/ (dtrain.orchestration.model_repack), as SDK
  v2 does before CreateModel, and the model serves the repacked archive.
  A sweep deploys its best trial (the ranked result's `best`); no completed trial, no model.
- `deploy` (waitForTaskToken): CreateEndpointConfig, then CreateEndpoint, or UpdateEndpoint
  of an endpoint that already exists (SageMaker switches traffic to the new config once its
  instances are healthy: no downtime). The "SageMaker Endpoint State Change" event answers.
- `transform` (waitForTaskToken): CreateTransformJob; the "SageMaker Transform Job State
  Change" event answers.

Idempotent like Submit (dtrain.orchestration.submit): every name is derived from the
execution (its ARN, start time and the Lambda's retry count do not change a name: the same
execution always means the same model, config and transform job), the ledger row is written
before the create call, a resource that exists already is adopted when its ownership tag
names this execution, and one that finished before Submit returned is answered at once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from dtrain.jobspec.digests import ledger_spec_digest
from dtrain.jobspec.naming import job_name_for
from dtrain.orchestration import hosting_requests
from dtrain.orchestration.backoff import is_transient
from dtrain.orchestration.capacity import capacity_error
from dtrain.orchestration.errors import EndpointBusy, InvalidEvent, JobNameConflict, SageMakerTransient
from dtrain.orchestration.execution_identity import EXECUTION_TAG, base_name, execution_tag_value
from dtrain.orchestration.execution_plan import (  # noqa: F401 (DEPLOY_TIMEOUT_S, TRANSFORM_TIMEOUT_S: callers read them here)
    DEPLOY,
    DEPLOY_TIMEOUT_S,
    HOSTING_BLOCKS,
    TRANSFORM_BLOCK,
    TRANSFORM_TIMEOUT_S,
    hosting_block,
    hosting_entry,
)
from dtrain.orchestration.experiment_entities import ensure_experiment_entities
from dtrain.orchestration.job_kinds import (
    ENDPOINT,
    ENDPOINT_CONFIG,
    HOSTED_RESOURCES,
    KINDS,
    MODEL,
    TRANSFORM,
    HostedResource,
    JobKind,
)
from dtrain.orchestration.kinds import describe_row, endpoint_status, row_outcome
from dtrain.orchestration.ledger import Ledger, LedgerRow, RowExists
from dtrain.orchestration.model_repack import repack_model
from dtrain.orchestration.outcome import TERMINAL_STATUSES, close_row
from dtrain.orchestration.ownership import DEFAULT_TEAM, check_endpoint_team, owner_tags
from dtrain.orchestration.payloads import HostingPayload

log = logging.getLogger(__name__)


class NothingToHost(Exception):
    """No completed training job to take a model from (a sweep whose every trial failed)."""


def hosting_plan(spec: Mapping[str, Any], platform: Any, *, is_sweep: bool = False) -> dict[str, Any] | None:
    """Prepare's part: which step follows training, and how long its callback may take.

    The spec's blocks are checked by parse_spec (Prepare builds the training request first);
    here only what the platform adds: one block per execution, and inference code of the
    block's own (entry_point) already in S3, where the `model` phase repacks from."""
    block = hosting_block(spec)
    if block is None:
        return None
    hosting_requests.repack_plan(spec, platform, "validate", block)
    return hosting_entry(spec, is_sweep=is_sweep)


def _prefix(platform: Any) -> str:
    return str(getattr(platform, "job_name_prefix", "") or "")


@dataclass(frozen=True)
class HostingRequest:
    """A hosting phase's payload, as the state machine builds it."""

    spec: Mapping[str, Any]
    training: Mapping[str, Any]  # Finalize's result: one job's, or a sweep's ranked one
    execution_arn: str
    execution_name: str
    execution_start: str = ""
    task_token: str = ""
    model: Mapping[str, Any] = field(default_factory=dict)  # the `model` phase's output

    @classmethod
    def from_payload(cls, payload: HostingPayload) -> HostingRequest:
        """The request of a `model`, `deploy` or `transform` payload (dtrain.orchestration.payloads)."""
        return cls(
            spec=payload.spec,
            training=payload.training,
            execution_arn=payload.execution_arn,
            execution_name=payload.execution_name,
            execution_start=payload.execution_start,
            task_token=payload.task_token,
            model=payload.model,
        )

    @property
    def owner_tag(self) -> str:
        return execution_tag_value(self.execution_arn, self.execution_start)

    def name(self, what: str, prefix: str) -> str:
        """The execution's model / endpoint-config / transform-job name (`what` tells them apart)."""
        execution = (
            f"{self.execution_name}@{self.execution_start}" if self.execution_start else self.execution_name
        )
        return job_name_for(f"{base_name(self.spec)}-{what}", execution_name=execution, prefix=prefix)

    def name_from(self, base: str, prefix: str) -> str:
        """This execution's name for a resource the spec names `base` (a fixed model_name or
        transform job_name is used by one execution only: SageMaker refuses the name again)."""
        execution = (
            f"{self.execution_name}@{self.execution_start}" if self.execution_start else self.execution_name
        )
        return job_name_for(base, execution_name=execution, prefix=prefix)

    def owns(self, row: LedgerRow) -> bool:
        return row.execution_arn == self.execution_arn and row.execution_start == self.execution_start

    def trained_job(self) -> tuple[str, str]:
        """(training job name, model artifact) to host: the job, or a sweep's best trial."""
        result = self.training.get("best") if "best" in self.training else self.training
        result = result or {}
        artifact = result.get("model_artifact")
        usable = result.get("status") == "Completed" or result.get("model_usable") is True
        if not usable or not artifact:
            raise NothingToHost(
                "no completed training job to deploy or transform"
                + (" (no sweep trial completed)" if "best" in self.training else "")
            )
        return str(result.get("job_name", "")), str(artifact)


def _tags_with_owner(request: dict[str, Any], owner: str, team: str) -> None:
    request["Tags"] = owner_tags(request.get("Tags", []), execution=owner, team=team)


def _serve_model(request: dict[str, Any], req: HostingRequest) -> None:
    """The model the `model` phase created (its name may be this execution's, fixed_names)."""
    model_name = req.model.get("model_name")
    if not model_name:
        return
    if "ModelName" in request:
        request["ModelName"] = str(model_name)
    for variant in request.get("ProductionVariants", []):
        variant["ModelName"] = str(model_name)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _already_exists(err: ClientError) -> bool:
    # CreateModel / CreateEndpointConfig answer ValidationException "Cannot create already
    # existing ..."; CreateTransformJob answers ResourceInUse.
    message = str(err.response.get("Error", {}).get("Message", ""))
    return _code(err) == "ResourceInUse" or (
        _code(err) == "ValidationException" and "already exist" in message
    )


# SageMaker refuses UpdateEndpoint (and CreateEndpoint of the name) while the endpoint is in
# one of these: Deploy waits them out (EndpointBusy, retried by the state machine).
_ENDPOINT_BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")

F = TypeVar("F", bound=Callable[..., Any])


def _surfaces_transient(step: F) -> F:
    """A SageMaker 5xx, throttle or lost connection that outlasted botocore's standard retries
    leaves the phase as SageMakerTransient, the error the state machine's Retry names (every
    phase is idempotent: a retry adopts what the failed try created)."""

    @functools.wraps(step)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return step(*args, **kwargs)
        except (ClientError, ConnectionError, HTTPClientError) as err:
            if is_transient(err):
                raise SageMakerTransient(f"SageMaker failed transiently: {err}") from err
            raise

    return guarded  # type: ignore[return-value]


class HostingSubmitter:
    def __init__(
        self,
        *,
        ledger: Ledger,
        sagemaker: Any,
        sfn: Any,
        platform: Any,
        region: str | None,
        s3: Any = None,
    ) -> None:
        self.ledger = ledger
        self.s3 = s3  # the repack's reads and writes (a block with inference code of its own)
        self.sagemaker = sagemaker
        self.sfn = sfn
        self.platform = platform
        self.region = region

    @property
    def prefix(self) -> str:
        return _prefix(self.platform)

    @property
    def team(self) -> str:
        return str(getattr(self.platform, "team", "") or DEFAULT_TEAM)

    def _owned(self, arn: str, req: HostingRequest) -> bool:
        tags = self.sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
        return any(t.get("Key") == EXECUTION_TAG and t.get("Value") == req.owner_tag for t in tags)

    def _create_or_adopt(
        self, resource: JobKind | HostedResource, request: dict[str, Any], req: HostingRequest
    ) -> None:
        """Create* of a resource of the table (its boto3 methods and keys), or adopt this
        execution's own of that name (Describe*, then its ownership tag)."""
        name = str(request[resource.name_key])
        what = f"{resource.noun} {name}"
        _tags_with_owner(request, req.owner_tag, self.team)
        # A transform job's ExperimentConfig, as a training job's (dtrain.orchestration.submit).
        ensure_experiment_entities(self.sagemaker, request.get("ExperimentConfig"))
        try:
            getattr(self.sagemaker, resource.create)(**request)
        except ClientError as err:
            waiting = capacity_error(err)  # a transform job past the instance quota waits
            if waiting is not None:
                raise waiting from err
            if not _already_exists(err):
                raise
            existing = getattr(self.sagemaker, resource.describe)(**{resource.name_key: name})
            if not self._owned(str(existing.get(resource.arn_key, "")), req):
                raise JobNameConflict(
                    f"a {what} of that name exists and does not belong to {req.owner_tag}"
                ) from err
            log.info("adopting the existing %s", what)

    # -- model -----------------------------------------------------------------------------
    @_surfaces_transient
    def create_model(self, req: HostingRequest) -> dict[str, Any]:
        job_name, artifact = req.trained_job()
        block = hosting_block(req.spec) or DEPLOY
        request = hosting_requests.model_request(
            req.spec,
            self.platform,
            training_job_name=job_name,
            model_data=artifact,
            block=block,
            region=self.region,
        )
        fixed = hosting_requests.fixed_names(req.spec, block).get("model")
        if fixed is not None:
            request["ModelName"] = req.name_from(fixed, self.prefix)
        model_name = str(request["ModelName"])
        endpoint = (
            hosting_requests.endpoint_name(req.spec, self.platform, job_name) if block == DEPLOY else None
        )
        if endpoint is not None:
            # Before anything is written (the repacked archive, the model): another team's
            # endpoint of that name is refused here, not after its model was replaced.
            check_endpoint_team(self.sagemaker, endpoint, self.team)
        repack = hosting_requests.repack_plan(req.spec, self.platform, job_name, block, self.region)
        if repack is not None:
            self._repack(repack, artifact, str(request["PrimaryContainer"]["ModelDataUrl"]))
        self._create_or_adopt(HOSTED_RESOURCES[MODEL], request, req)
        out = {"model_name": model_name, "model_data": artifact, "training_job_name": job_name}
        if endpoint is not None:
            out["endpoint_name"] = endpoint
        return out

    def _repack(self, plan: Any, artifact: str, target: str) -> None:
        """The trained archive with code/ replaced by the block's code, at the URL the model names."""
        if self.s3 is None:
            raise InvalidEvent("the model phase needs an S3 client to repack the model with its code")
        result = repack_model(
            self.s3, model_data=artifact, code=str(plan.source_dir), target=target, kms_key=plan.kms_key
        )
        log.info("model repacked with its code", extra={"target": target, "adopted": result.adopted})

    # -- the waiting steps -------------------------------------------------------------------
    def _row(self, req: HostingRequest, key: str, kind: str, resource: str) -> LedgerRow:
        """The execution's row for this step: written before the create call, adopted on retry."""
        try:
            row = self.ledger.put_submitted(
                job_name=key,
                execution_arn=req.execution_arn,
                execution_name=req.execution_name,
                task_token=req.task_token,
                spec_digest=ledger_spec_digest(req.spec),
                spec_summary=resource,
                execution_start=req.execution_start,
                kind=kind,
                resource_name=resource if resource != key else "",
            )
        except RowExists as exists:
            if not req.owns(exists.row):
                raise JobNameConflict(f"ledger row {key} belongs to {exists.row.execution_arn}") from exists
            self.ledger.adopt(key, req.task_token)
            row = self.ledger.get(key) or exists.row
        return row

    def _answer_if_done(self, key: str) -> bool:
        row = self.ledger.get(key)
        if row is None:
            return False
        desc = describe_row(self.sagemaker, row)
        if desc is None:
            return False
        outcome = row_outcome(row, desc)
        self.ledger.set_status(key, outcome.status, only_if_open=True)
        if outcome.status in TERMINAL_STATUSES:
            current = self.ledger.get(key)
            if current is not None:
                return close_row(self.sfn, self.ledger, current, outcome)
        return False

    @_surfaces_transient
    def deploy(self, req: HostingRequest) -> dict[str, Any]:
        endpoint = str(req.model.get("endpoint_name", ""))
        job_name = str(req.model.get("training_job_name", ""))
        if not endpoint or not job_name:
            raise InvalidEvent("deploy payload lacks model.endpoint_name / model.training_job_name")
        config = req.name("endpoint-config", self.prefix)
        # Checked again here: the endpoint may have been created since the model phase.
        check_endpoint_team(self.sagemaker, endpoint, self.team)
        self._row(req, config, ENDPOINT, endpoint)
        config_request = hosting_requests.endpoint_config_request(
            req.spec, self.platform, training_job_name=job_name, config_name=config
        )
        _serve_model(config_request, req)
        self._create_or_adopt(HOSTED_RESOURCES[ENDPOINT_CONFIG], config_request, req)
        action = self._create_or_update_endpoint(req, endpoint, config, job_name)
        answered = self._answer_if_done(config)
        return {
            "endpoint_name": endpoint,
            "endpoint_config_name": config,
            "action": action,
            "answered_now": answered,
        }

    def _create_or_update_endpoint(
        self, req: HostingRequest, endpoint: str, config: str, job_name: str
    ) -> str:
        # The last look before UpdateEndpoint: only this team's endpoint is updated.
        current = check_endpoint_team(self.sagemaker, endpoint, self.team)
        if current is None:
            request = hosting_requests.endpoint_request(
                req.spec, self.platform, training_job_name=job_name, config_name=config
            )
            _tags_with_owner(request, req.owner_tag, self.team)
            self.sagemaker.create_endpoint(**request)
            return "created"
        if current.get("EndpointConfigName") == config:
            return "adopted"  # a retried deploy: this execution created or updated it already
        status = endpoint_status(current)
        if status == "Failed":
            # "DeleteEndpoint is the only operation that can be performed on a failed endpoint"
            # (EndpointSummary, SageMaker API reference): it serves nothing, and left in place
            # it would fail every later deploy to this name. Deleted; Deploy retries to create.
            self.sagemaker.delete_endpoint(EndpointName=endpoint)
            raise EndpointBusy(
                f"endpoint {endpoint} was Failed ({current.get('FailureReason') or 'no reason given'}):"
                " deleted, to be created again once it is gone"
            )
        if status in _ENDPOINT_BUSY:
            raise EndpointBusy(f"endpoint {endpoint} is {status}: SageMaker refuses to update it now")
        # UpdateEndpoint: "the endpoint continues serving with the current config while the new
        # one is deployed" (UpdateEndpoint API reference): the model already serving keeps serving.
        try:
            self.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        except ClientError as err:
            # Another deploy moved it out of InService between Describe and Update: SageMaker
            # answers "Cannot update in-progress endpoint ..." (a ValidationException).
            if _code(err) == "ValidationException" and "Cannot update" in str(err):
                raise EndpointBusy(f"endpoint {endpoint} cannot be updated now: {err}") from err
            raise
        return "updated"

    @_surfaces_transient
    def transform(self, req: HostingRequest) -> dict[str, Any]:
        training_job = str(req.model.get("training_job_name", ""))
        if not training_job:
            raise InvalidEvent("transform payload lacks model.training_job_name")
        fixed = hosting_requests.fixed_names(req.spec, TRANSFORM_BLOCK).get("transform")
        request = hosting_requests.transform_request(
            req.spec,
            self.platform,
            training_job_name=training_job,
            job_name=req.name_from(fixed, self.prefix) if fixed else req.name("transform", self.prefix),
        )
        _serve_model(request, req)
        job_name = str(request["TransformJobName"])
        self._row(req, job_name, TRANSFORM, job_name)
        self._create_or_adopt(KINDS[TRANSFORM], request, req)
        answered = self._answer_if_done(job_name)
        return {"transform_job_name": job_name, "answered_now": answered}
