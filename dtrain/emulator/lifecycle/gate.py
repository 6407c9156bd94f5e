"""The gate in front of moto's SageMaker: every call is checked as SageMaker checks it first.

Before moto (and the emulator's shims behind it) sees a SageMaker call, the gate answers the
refusals AWS would answer, in this order:

1. the resource's state (rules.REFUSALS: a name in use, a Delete/Update/Stop in a state where
   AWS refuses it, a resource that does not exist);
2. the resources it names (an endpoint's config, a transform job's model, the experiment and
   trial of a job's ExperimentConfig, a trial's experiment);
3. SageMaker's service-side rules on a CreateTrainingJob (dtrain.jobspec.service_rules: the same table
   the request builder applies, here applied to whatever request reaches the API);
4. the account's instance quotas (quotas.QuotaBook) for CreateTrainingJob, CreateProcessingJob,
   CreateTransformJob and CreateEndpoint.

Creates pass the gate one at a time (a lock held through moto's create), so two concurrent
requests cannot both take the last instance of a quota.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dtrain.emulator.authz import hook as authz_hook
from dtrain.emulator.class_patches import Patch, class_patches
from dtrain.emulator.lifecycle import quotas as q
from dtrain.emulator.lifecycle import rules
from dtrain.jobspec.naming import JOB_NAME_RE, is_valid_job_name
from dtrain.jobspec.service_rules import SERVICE_RULES

if TYPE_CHECKING:
    from dtrain.emulator.lifecycle import Lifecycle


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- moto's backend: a resource's status and ARN by kind and name ----------------------------
def _store(backend: Any, resource: str) -> Mapping[str, Any]:
    stores: dict[str, Mapping[str, Any]] = {
        rules.TRAINING_JOB: backend.training_jobs,
        rules.PROCESSING_JOB: backend.processing_jobs,
        rules.TRANSFORM_JOB: backend.transform_jobs,
        rules.MODEL: backend._models,
        rules.ENDPOINT_CONFIG: backend.endpoint_configs,
        rules.ENDPOINT: backend.endpoints,
        rules.EXPERIMENT: backend.experiments,
        rules.TRIAL: backend.trials,
    }
    return stores[resource]


_STATUS_ATTR = {
    rules.TRAINING_JOB: "training_job_status",
    rules.PROCESSING_JOB: "processing_job_status",
    rules.TRANSFORM_JOB: "transform_job_status",
    rules.ENDPOINT: "endpoint_status",
}


def status_of(backend: Any, resource: str, name: str) -> str:
    """The resource's status; rules.EXISTS for one without statuses, rules.MISSING for none."""
    found = _store(backend, resource).get(name)
    if found is None:
        return rules.MISSING
    attr = _STATUS_ATTR.get(resource)
    return str(getattr(found, attr)) if attr else rules.EXISTS


def arn_of(backend: Any, resource: str, name: str) -> str:
    found = _store(backend, resource).get(name)
    if found is not None and getattr(found, "arn", None):
        return str(found.arn)
    return f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:{resource}/{name.lower()}"


# -- the checks --------------------------------------------------------------------------------
def check_state(backend: Any, operation: str, params: Mapping[str, Any]) -> None:
    if operation not in rules.OPERATIONS:
        return
    resource, key = rules.OPERATIONS[operation]
    name = str(params.get(key) or "")
    status = status_of(backend, resource, name)
    refusal = rules.refusal_for(operation, status)
    if refusal is not None:
        arn = arn_of(backend, resource, name)
        raise Refused(refusal.code, refusal.text(name=name, arn=arn, status=status))
    for ref_resource, ref_key in rules.REFERENCES.get(operation, ()):
        ref_name = str(params.get(ref_key) or "")
        if status_of(backend, ref_resource, ref_name) == rules.MISSING:
            message = rules.NOT_FOUND_MESSAGES[ref_resource]
            raise Refused("ValidationException", message.format(arn=arn_of(backend, ref_resource, ref_name)))


def check_experiment_references(backend: Any, operation: str, params: Mapping[str, Any]) -> None:
    """A job naming an experiment or trial that does not exist, a trial naming a missing
    experiment: refused as SageMaker refuses them (rules.experiment_references)."""
    for resource, name in rules.experiment_references(operation, params):
        if status_of(backend, resource, name) == rules.MISSING:
            message = rules.EXPERIMENT_NOT_FOUND[resource]
            raise Refused("ResourceNotFound", message.format(arn=arn_of(backend, resource, name)))


def check_service_rules(operation: str, params: Mapping[str, Any]) -> None:
    if operation != "CreateTrainingJob":
        return

    for rule in SERVICE_RULES:
        for problem in rule.check(params):
            raise Refused("ValidationException", f"{problem.rule} ({rule.summary})")


def _held(backend: Any) -> Counter[str]:
    """Instances by quota name that running jobs and live endpoints hold now. Each of moto's dicts
    is copied first (one step under the GIL): another thread's Create adds to it meanwhile."""
    held: Counter[str] = Counter()
    training = q.held_by_jobs(
        list(backend.training_jobs.values()),
        "training_job_status",
        lambda j: q.training_instances({"ResourceConfig": j.resource_config or {}}),
    )
    held.update(q.by_quota(training, q.training_usage, q.ALL_TRAINING))
    processing = q.held_by_jobs(
        list(backend.processing_jobs.values()),
        "processing_job_status",
        lambda j: q.processing_instances(
            {"ProcessingResources": getattr(j, "processing_resources", None) or {}}
        ),
    )
    held.update(q.by_quota(processing, q.processing_usage, q.ALL_PROCESSING))
    transform = q.held_by_jobs(
        list(backend.transform_jobs.values()),
        "transform_job_status",
        lambda j: q.transform_instances({"TransformResources": j.transform_resources or {}}),
    )
    held.update(q.by_quota(transform, q.transform_usage, q.ALL_TRANSFORM))
    for endpoint in list(backend.endpoints.values()):
        if str(endpoint.endpoint_status) == "Failed":  # a failed endpoint holds no instances
            continue
        held.update(
            q.by_quota(_endpoint_instances(backend, str(endpoint.endpoint_config_name)), q.endpoint_usage)
        )
    return held


def _endpoint_instances(backend: Any, config_name: str) -> Counter[str]:
    config = backend.endpoint_configs.get(config_name)
    return q.endpoint_instances(config.production_variants or []) if config is not None else Counter()


def asked_instances(backend: Any, operation: str, params: Mapping[str, Any]) -> Counter[str]:
    """Instances by quota name that this Create would hold."""
    if operation == "CreateTrainingJob":
        return q.by_quota(q.training_instances(params), q.training_usage, q.ALL_TRAINING)
    if operation == "CreateProcessingJob":
        return q.by_quota(q.processing_instances(params), q.processing_usage, q.ALL_PROCESSING)
    if operation == "CreateTransformJob":
        return q.by_quota(q.transform_instances(params), q.transform_usage, q.ALL_TRANSFORM)
    if operation == "CreateEndpoint":
        return q.by_quota(
            _endpoint_instances(backend, str(params.get("EndpointConfigName"))), q.endpoint_usage
        )
    return Counter()


def check_quotas(book: q.QuotaBook, backend: Any, operation: str, params: Mapping[str, Any]) -> None:
    asked = asked_instances(backend, operation, params)
    if not asked:
        return
    try:
        book.check(asked, _held(backend))
    except q.QuotaExceeded as exceeded:
        raise Refused("ResourceLimitExceeded", str(exceeded)) from exceeded


def check_access(backend: Any, operation: str, params: Mapping[str, Any]) -> None:
    """SageMaker checks at create that it can assume the job's role and that the role may use
    the job's volume and output keys (answered by the emulator's IAM engine, when it runs one)."""
    if operation not in _JOB_KEYS:
        return
    resource, key = rules.OPERATIONS[operation]
    name = str(params.get(key) or "")
    if operation == "CreateProcessingJob" and not is_valid_job_name(name):
        # The name becomes a folder of local mode's: "../x" must not reach it. SageMaker's own
        # constraint (API Reference, CreateProcessingJob, ProcessingJobName: Pattern).
        raise Refused(
            "ValidationException",
            f"1 validation error detected: Value '{name}' at 'processingJobName' failed "
            "to satisfy constraint: Member must satisfy regular expression pattern: "
            f"^{JOB_NAME_RE.pattern}",
        )
    role = str(params.get("RoleArn", ""))
    refused = authz_hook.service_cannot_assume(
        "sagemaker.amazonaws.com", role, arn_of(backend, resource, name)
    )
    refused = refused or authz_hook.job_keys_refused(_JOB_KEYS[operation](params), name, backend.region_name)
    if refused:
        raise Refused("ValidationException", refused)


def _processing_keys(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """A processing job's keys in a training request's shape: a grant on the volume key,
    encryption with the output key, both by the execution role, as for a training job."""
    return {
        "RoleArn": params.get("RoleArn", ""),
        "ResourceConfig": dict(params.get("ProcessingResources", {}).get("ClusterConfig", {})),
        "OutputDataConfig": {
            k: v for k, v in (params.get("ProcessingOutputConfig") or {}).items() if k == "KmsKeyId"
        },
    }


_JOB_KEYS: dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]] = {
    "CreateTrainingJob": lambda params: params,
    "CreateProcessingJob": _processing_keys,
}


def check(lifecycle: Lifecycle, backend: Any, operation: str, params: Mapping[str, Any]) -> None:
    """Raise Refused with SageMaker's answer when SageMaker would refuse this call."""
    check_state(backend, operation, params)
    check_experiment_references(backend, operation, params)
    check_service_rules(operation, params)
    check_quotas(lifecycle.quotas, backend, operation, params)
    check_access(backend, operation, params)


def error_response(refused: Refused) -> tuple[int, dict[str, str], str]:
    body = json.dumps({"__type": refused.code, "message": refused.message})
    return 400, {"status": "400", "x-amzn-ErrorType": refused.code}, body


def install(patch: Patch, lifecycle: Lifecycle) -> None:
    """Put the gate in front of moto's SageMaker (`patch(owner, name, value)` records what it
    replaces, as dtrain.emulator.shims.installed restores it)."""
    from moto.sagemaker.responses import SageMakerResponse

    original = SageMakerResponse.call_action

    def call_action(self: Any) -> Any:
        operation = str(self._get_action())
        if operation not in rules.OPERATIONS:
            return original(self)
        params = json.loads(self.body) if self.body else {}
        backend = self.sagemaker_backend
        # Creates one at a time: the quota check and the create that takes the instances.
        with lifecycle.quotas.lock if operation.startswith("Create") else contextlib.nullcontext():
            try:
                check(lifecycle, backend, operation, params)
            except Refused as refused:
                lifecycle.refusals.append((operation, refused.code, refused.message))
                return error_response(refused)
            return original(self)

    patch(SageMakerResponse, "call_action", call_action)


@contextmanager
def installed(lifecycle: Lifecycle) -> Iterator[Lifecycle]:
    """The gate alone, for the block (the emulator installs it with its shims)."""
    with class_patches() as patch:
        install(patch, lifecycle)
        yield lifecycle
