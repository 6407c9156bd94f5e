"""The hosting phases against SageMaker's refusals (issue 26 findings 2, 4, 5 and 6).

SageMaker here is a small fake that refuses what AWS refuses (UpdateEndpoint on anything but
InService, DeleteEndpoint while SageMaker works on the endpoint, a name taken); the fault
matrix runs the same paths against the emulator's lifecycles (tests/e2e/test_fault_matrix.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from dtrain.jobspec.spec_rules import EXECUTION_TAG_KEY, TEAM_TAG_KEY
from dtrain.orchestration.errors import CapacityWait, EndpointBusy, QuotaTooSmall, SageMakerTransient
from dtrain.orchestration.hosting import HostingRequest, HostingSubmitter
from dtrain.orchestration.ledger import Ledger

EXEC = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1"
DEPLOY = {
    "instance_type": "ml.m5.large",
    "initial_instance_count": 1,
    "framework_version": "2.2",
    "endpoint_name": "ep",
}
TRANSFORM = {
    "instance_type": "ml.m5.large",
    "instance_count": 1,
    "data": "s3://d/x",
    "framework_version": "2.2",
}


def _error(code: str, message: str, op: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, op
    )


# The tags Submit put on an endpoint an earlier execution of the (default) team created.
DEFAULT_TEAMS_ENDPOINT = [
    {"Key": EXECUTION_TAG_KEY, "Value": "arn:earlier"},
    {"Key": TEAM_TAG_KEY, "Value": "default"},
]


class RefusingSageMaker:
    """Endpoints, configs, models and transform jobs with AWS's refusals; `fail_next` makes the
    next call of an operation raise the given error once."""

    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.transforms: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next: dict[str, ClientError] = {}

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail_next:
            raise self.fail_next.pop(op)

    def list_tags(self, ResourceArn: str) -> dict[str, Any]:
        return {"Tags": self.tags.get(ResourceArn, [])}

    def create_model(self, **request: Any) -> None:
        self._maybe_fail("create_model")
        name = request["ModelName"]
        if name in self.models:
            raise _error("ValidationException", f"Cannot create already existing model {name}", "CreateModel")
        self.models[name] = request
        self.tags[f"arn:model/{name}"] = request.get("Tags", [])
        self.calls.append(("create_model", name))

    def describe_model(self, ModelName: str) -> dict[str, Any]:
        return {"ModelName": ModelName, "ModelArn": f"arn:model/{ModelName}"}

    def create_endpoint_config(self, **request: Any) -> None:
        self._maybe_fail("create_endpoint_config")
        name = request["EndpointConfigName"]
        if name in self.configs:
            raise _error("ValidationException", "Cannot create already existing endpoint configuration", "X")
        self.configs[name] = request
        self.tags[f"arn:config/{name}"] = request.get("Tags", [])

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        return {
            "EndpointConfigName": EndpointConfigName,
            "EndpointConfigArn": f"arn:config/{EndpointConfigName}",
        }

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        if EndpointName not in self.endpoints:
            raise _error(
                "ValidationException", f'Could not find endpoint "{EndpointName}".', "DescribeEndpoint"
            )
        return {
            "EndpointName": EndpointName,
            "EndpointArn": f"arn:ep/{EndpointName}",
            **self.endpoints[EndpointName],
        }

    def create_endpoint(self, **request: Any) -> None:
        name = request["EndpointName"]
        if name in self.endpoints:
            raise _error(
                "ValidationException", f"Cannot create already existing endpoint {name}", "CreateEndpoint"
            )
        self.endpoints[name] = {
            "EndpointStatus": "Creating",
            "EndpointConfigName": request["EndpointConfigName"],
        }
        self.tags[f"arn:ep/{name}"] = request.get("Tags", [])
        self.calls.append(("create_endpoint", name))

    def update_endpoint(self, EndpointName: str, EndpointConfigName: str) -> None:
        status = self.endpoints[EndpointName]["EndpointStatus"]
        if status != "InService":
            # "DeleteEndpoint is the only operation that can be performed on a failed endpoint"
            raise _error("ValidationException", f"Cannot update in-progress endpoint {EndpointName}", "X")
        self.endpoints[EndpointName] = {
            "EndpointStatus": "Updating",
            "EndpointConfigName": EndpointConfigName,
        }
        self.calls.append(("update_endpoint", EndpointName))

    def delete_endpoint(self, EndpointName: str) -> None:
        if self.endpoints[EndpointName]["EndpointStatus"] not in ("InService", "Failed", "OutOfService"):
            raise _error("ValidationException", "Cannot delete in-progress endpoint", "DeleteEndpoint")
        self.endpoints[EndpointName]["EndpointStatus"] = "Deleting"
        self.calls.append(("delete_endpoint", EndpointName))

    def create_transform_job(self, **request: Any) -> None:
        self._maybe_fail("create_transform_job")
        name = request["TransformJobName"]
        if name in self.transforms:
            raise _error("ResourceInUse", f"Job {name} already exists", "CreateTransformJob")
        self.transforms[name] = {"TransformJobStatus": "InProgress", **request}
        self.tags[f"arn:transform/{name}"] = request.get("Tags", [])
        self.calls.append(("create_transform_job", name))

    def describe_transform_job(self, TransformJobName: str) -> dict[str, Any]:
        if TransformJobName not in self.transforms:
            raise _error("ValidationException", "Could not find job", "DescribeTransformJob")
        job = self.transforms[TransformJobName]
        return {
            "TransformJobName": TransformJobName,
            "TransformJobArn": f"arn:transform/{TransformJobName}",
            "TransformJobStatus": job["TransformJobStatus"],
        }


def _submitter(ledger: Ledger, sfn: Any, platform: Any, sm: RefusingSageMaker) -> HostingSubmitter:
    return HostingSubmitter(ledger=ledger, sagemaker=sm, sfn=sfn, platform=platform, region="us-east-1")


def _request(
    spec: dict[str, Any], *, name: str = "run-1", start: str = "2026-01-01T00:00:00Z", model: Any = None
) -> HostingRequest:
    return HostingRequest(
        spec=spec,
        training={
            "job_name": "dtrain-train-abc",
            "status": "Completed",
            "model_artifact": "s3://a/model.tar.gz",
        },
        execution_arn=EXEC.replace("run-1", name),
        execution_name=name,
        execution_start=start,
        task_token=f"token-{name}",
        model=model
        or {
            "endpoint_name": "dtrain-ep",
            "training_job_name": "dtrain-train-abc",
            "model_name": "dtrain-train-abc",
        },
    )


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"])
def test_deploy_waits_while_sagemaker_works_on_the_endpoint(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], status: str
) -> None:
    """Finding 2: UpdateEndpoint on an endpoint in progress raised a plain ClientError and
    failed the execution after training was paid for; now Deploy retries (EndpointBusy)."""
    sm = RefusingSageMaker()
    sm.endpoints["dtrain-ep"] = {"EndpointStatus": status, "EndpointConfigName": "someone-elses"}
    sm.tags["arn:ep/dtrain-ep"] = DEFAULT_TEAMS_ENDPOINT  # an earlier deploy of this team
    with pytest.raises(EndpointBusy, match=f"dtrain-ep is {status}"):
        _submitter(ledger, sfn, platform, sm).deploy(_request({**spec, "deploy": DEPLOY}))
    assert sm.calls == []


def test_deploy_deletes_a_failed_endpoint_then_creates_it_again(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any]
) -> None:
    """Finding 2: a Failed endpoint was never deleted, so every later deploy to its name failed."""
    sm = RefusingSageMaker()
    sm.endpoints["dtrain-ep"] = {
        "EndpointStatus": "Failed",
        "EndpointConfigName": "old",
        "FailureReason": "no /ping",
    }
    sm.tags["arn:ep/dtrain-ep"] = DEFAULT_TEAMS_ENDPOINT  # an earlier deploy of this team
    hosting = _submitter(ledger, sfn, platform, sm)
    req = _request({**spec, "deploy": DEPLOY})
    with pytest.raises(EndpointBusy, match=r"was Failed \(no /ping\): deleted"):
        hosting.deploy(req)
    assert sm.calls == [("delete_endpoint", "dtrain-ep")]
    with pytest.raises(EndpointBusy, match="is Deleting"):
        hosting.deploy(req)  # the state machine's retry, while SageMaker deletes it
    sm.endpoints.pop("dtrain-ep")
    out = hosting.deploy(req)  # and once it is gone
    assert out["action"] == "created" and sm.calls[-1] == ("create_endpoint", "dtrain-ep")
    assert len(sm.configs) == 1  # the config of the first try was adopted, not created twice


def test_deploy_updates_an_endpoint_in_service(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any]
) -> None:
    sm = RefusingSageMaker()
    sm.endpoints["dtrain-ep"] = {"EndpointStatus": "InService", "EndpointConfigName": "old"}
    sm.tags["arn:ep/dtrain-ep"] = DEFAULT_TEAMS_ENDPOINT  # an earlier deploy of this team
    out = _submitter(ledger, sfn, platform, sm).deploy(_request({**spec, "deploy": DEPLOY}))
    assert out["action"] == "updated" and sm.calls == [("update_endpoint", "dtrain-ep")]


@pytest.mark.parametrize(
    "error",
    [
        _error("ThrottlingException", "Rate exceeded", "CreateEndpointConfig"),
        _error("InternalFailure", "try again", "CreateEndpointConfig", status=500),
    ],
)
def test_hosting_phases_raise_the_errors_their_retry_names(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], error: ClientError
) -> None:
    """Finding 4: a throttle or 5xx that outlasted botocore's retries left the phase as a plain
    ClientError, which no Retry entry of Deploy/Transform/CreateModel names."""
    sm = RefusingSageMaker()
    sm.fail_next["create_endpoint_config"] = error
    with pytest.raises(SageMakerTransient):
        _submitter(ledger, sfn, platform, sm).deploy(_request({**spec, "deploy": DEPLOY}))
    sm.fail_next["create_model"] = error
    with pytest.raises(SageMakerTransient):
        _submitter(ledger, sfn, platform, sm).create_model(_request({**spec, "deploy": DEPLOY}))


def test_a_transform_past_the_instance_quota_waits_for_capacity(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any]
) -> None:
    sm = RefusingSageMaker()
    sm.fail_next["create_transform_job"] = _error(
        "ResourceLimitExceeded",
        "The account-level service limit 'ml.m5.large for transform job usage' is 2 Instances, with"
        " current utilization of 2 Instances and a request delta of 1 Instances.",
        "CreateTransformJob",
    )
    hosting = _submitter(ledger, sfn, platform, sm)
    req = _request(
        {**spec, "transform": TRANSFORM}, model={"training_job_name": "dtrain-train-abc", "model_name": "m"}
    )
    with pytest.raises(CapacityWait):
        hosting.transform(req)
    assert hosting.transform(req)["transform_job_name"] in sm.transforms  # the retry creates it


def test_a_request_larger_than_the_quota_fails_at_once_with_the_quota_named() -> None:
    from dtrain.orchestration.capacity import capacity_error

    never = capacity_error(
        _error(
            "ResourceLimitExceeded",
            "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances, with"
            " current utilization of 0 Instances and a request delta of 1 Instances.",
            "CreateTrainingJob",
        )
    )
    assert isinstance(never, QuotaTooSmall) and "'ml.p3.2xlarge for training job usage', which is 0" in str(
        never
    )
    unparsed = capacity_error(_error("ResourceLimitExceeded", "too many jobs", "CreateTrainingJob"))
    assert isinstance(unparsed, CapacityWait)
    assert capacity_error(_error("ValidationException", "bad", "CreateTrainingJob")) is None


def test_fixed_model_and_transform_names_are_the_base_of_each_executions_names(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any]
) -> None:
    """Finding 6: a spec's transform.job_name / model_name worked once; the next execution
    failed on the name (a transform job's name is never free again)."""
    sm = RefusingSageMaker()
    hosting = _submitter(ledger, sfn, platform, sm)
    fixed = {**spec, "transform": {**TRANSFORM, "job_name": "nightly-scores", "model_name": "scorer"}}
    names = []
    for run in ("run-1", "run-2"):
        model = hosting.create_model(_request(fixed, name=run, model={}))
        out = hosting.transform(_request(fixed, name=run, model=model))
        names.append((model["model_name"], out["transform_job_name"]))
        job = sm.transforms[out["transform_job_name"]]
        assert job["ModelName"] == model["model_name"]  # the transform serves this run's model
    (model_1, job_1), (model_2, job_2) = names
    assert model_1 != model_2 and job_1 != job_2
    assert model_1.startswith("dtrain-scorer-") and job_1.startswith("dtrain-nightly-scores-")
