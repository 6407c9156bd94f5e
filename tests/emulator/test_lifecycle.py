"""The emulator's SageMaker lifecycles: AWS's refusals by state, quotas, service rules,
throttling, durations and the events built from AWS's published samples.

moto + the emulator's shims only (no stack deployed, no model server): endpoints are put in
each state by setting their status on moto's backend, which is what the gate reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from dtrain.emulator.lifecycle import events, rules
from dtrain.emulator.lifecycle.quotas import QuotaBook, training_usage, warm_pool_usage
from dtrain.emulator.sagemaker import EventPlaybackBackend
from dtrain.emulator.service_behaviour import ServiceBehaviour
from dtrain.emulator.service_behaviour import installed as behaviour_installed
from dtrain.emulator.shims import LambdaRuntime, Shims, installed

REGION = "us-east-1"
ACCOUNT = "123456789012"
NO_RETRY = Config(retries={"total_max_attempts": 1})


@pytest.fixture
def shims(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Shims]:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(k, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    s = Shims(runtime=LambdaRuntime(workdir=tmp_path), sagemaker_backend=EventPlaybackBackend())
    with mock_aws(), installed(s):
        yield s


def sm() -> Any:
    return boto3.client("sagemaker", region_name=REGION, config=NO_RETRY)


def backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION]


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def training_request(
    name: str, instance_type: str = "ml.m5.xlarge", count: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        **extra,
    }


def endpoint(name: str = "ep") -> Any:
    """An endpoint (with its model and config) on moto's backend, InService."""
    client = sm()
    client.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://b/model.tar.gz"},
    )
    client.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    client.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    return backend().endpoints[name]


# -- refusals by state --------------------------------------------------------------------------
def test_the_gate_looks_up_every_refused_operation_on_the_rows_resource() -> None:
    """The gate's operations come from the table of SageMaker resources (job_kinds): each row's
    operation is one of them, on the row's resource, so no row goes unchecked."""
    for row in rules.REFUSALS:
        assert rules.OPERATIONS[row.operation][0] == row.resource, row.operation
    assert rules.OPERATIONS["UpdateEndpoint"] == (rules.ENDPOINT, "EndpointName")
    assert rules.REFERENCES["CreateTransformJob"] == ((rules.MODEL, "ModelName"),)
    assert rules.REFERENCES["UpdateEndpoint"] == ((rules.ENDPOINT_CONFIG, "EndpointConfigName"),)


@pytest.mark.parametrize("status", sorted(rules.ENDPOINT_IN_PROGRESS))
def test_delete_and_update_of_an_endpoint_in_progress_are_refused_as_aws_words_it(
    shims: Shims, status: str
) -> None:
    ep = endpoint()
    ep.endpoint_status = status
    for call in (
        lambda: sm().delete_endpoint(EndpointName="ep"),
        lambda: sm().update_endpoint(EndpointName="ep", EndpointConfigName="ep-config"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert error(refused) == ("ValidationException", f'Cannot update in-progress endpoint "{ep.arn}".')
    assert "ep" in backend().endpoints  # still there: the delete did not happen


def test_a_failed_endpoint_cannot_be_updated_but_can_be_deleted(shims: Shims) -> None:
    ep = endpoint()
    ep.endpoint_status = "Failed"
    with pytest.raises(ClientError) as refused:
        sm().update_endpoint(EndpointName="ep", EndpointConfigName="ep-config")
    assert error(refused) == ("ValidationException", f'Cannot update failed endpoint "{ep.arn}".')
    sm().delete_endpoint(EndpointName="ep")
    assert "ep" not in backend().endpoints
    with pytest.raises(ClientError) as missing:
        sm().delete_endpoint(EndpointName="ep")
    assert error(missing)[1].startswith('Could not find endpoint "arn:aws:sagemaker:')


def test_names_in_use_are_refused_with_each_resources_answer(shims: Shims) -> None:
    ep = endpoint()
    client = sm()
    with pytest.raises(ClientError) as model:
        client.create_model(ModelName="ep-model", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r")
    assert error(model) == (
        "ValidationException",
        f'Cannot create already existing model "{backend()._models["ep-model"].arn}".',
    )
    with pytest.raises(ClientError) as config:
        client.create_endpoint_config(
            EndpointConfigName="ep-config",
            ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": "ep-model", "InstanceType": "ml.m5.xlarge"}
            ],
        )
    assert error(config)[1].startswith("Cannot create already existing endpoint configuration")
    with pytest.raises(ClientError) as again:
        client.create_endpoint(EndpointName="ep", EndpointConfigName="ep-config")
    assert error(again) == ("ValidationException", f'Cannot create already existing endpoint "{ep.arn}".')
    client.create_training_job(**training_request("job-a"))
    with pytest.raises(ClientError) as job:
        client.create_training_job(**training_request("job-a"))
    code, message = error(job)
    assert code == "ResourceInUse"
    assert message.startswith("Training job names must be unique within an AWS account and region")


def test_an_endpoint_naming_a_config_that_does_not_exist_is_refused(shims: Shims) -> None:
    with pytest.raises(ClientError) as refused:
        sm().create_endpoint(EndpointName="ep", EndpointConfigName="nope")
    assert error(refused)[1].startswith('Could not find endpoint configuration "arn:aws:sagemaker:')
    assert "ep" not in backend().endpoints


def test_a_job_naming_an_experiment_or_trial_nothing_created_is_refused(shims: Shims) -> None:
    """ExperimentConfig's ExperimentName and TrialName name existing entities (API reference,
    ExperimentConfig): the job is refused with ResourceNotFound until they exist, and creating
    them again is refused with the answer the SDK's _load_or_create adopts (moto created the job
    and overwrote the experiment)."""
    client = sm()
    config = {"ExperimentName": "cifar10", "TrialName": "lr-0-1", "RunName": "cifar10-run-1"}
    with pytest.raises(ClientError) as job:
        client.create_training_job(**training_request("exp-job", ExperimentConfig=config))
    assert error(job) == (
        "ResourceNotFound",
        f"Experiment 'arn:aws:sagemaker:{REGION}:{ACCOUNT}:experiment/cifar10' does not exist.",
    )
    with pytest.raises(ClientError) as described:
        client.describe_experiment(ExperimentName="cifar10")
    assert error(described)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as orphan:
        client.create_trial(TrialName="lr-0-1", ExperimentName="cifar10")
    assert error(orphan)[0] == "ResourceNotFound"
    client.create_experiment(ExperimentName="cifar10")
    with pytest.raises(ClientError) as again:
        client.create_experiment(ExperimentName="cifar10")
    assert error(again)[0] == "ValidationException" and "already exists" in error(again)[1]
    with pytest.raises(ClientError) as no_trial:
        client.create_training_job(**training_request("exp-job", ExperimentConfig=config))
    assert error(no_trial)[0] == "ResourceNotFound" and "experiment-trial/lr-0-1" in error(no_trial)[1]
    with pytest.raises(ClientError) as trial_described:
        client.describe_trial(TrialName="lr-0-1")
    assert error(trial_described)[0] == "ResourceNotFound"
    client.create_trial(TrialName="lr-0-1", ExperimentName="cifar10")
    client.create_training_job(**training_request("exp-job", ExperimentConfig=config))
    assert "exp-job" in backend().training_jobs
    # Without a TrialName SageMaker creates the trial: the experiment alone must exist.
    alone = {"ExperimentName": "cifar10"}
    client.create_training_job(**training_request("exp-job-2", ExperimentConfig=alone))


def test_stop_training_job_on_an_ended_or_missing_job_is_refused(shims: Shims) -> None:
    playback: Any = shims.sagemaker_backend
    sm().create_training_job(**training_request("job-a"))
    playback.complete("job-a")
    with pytest.raises(ClientError) as ended:
        sm().stop_training_job(TrainingJobName="job-a")
    assert error(ended) == (
        "ValidationException",
        "The request was rejected because the training job is in status Completed.",
    )
    with pytest.raises(ClientError) as missing:
        sm().stop_training_job(TrainingJobName="nope")
    assert error(missing) == ("ValidationException", "Requested resource not found.")


def test_a_stop_passes_through_stopping_for_its_duration(shims: Shims) -> None:
    shims.lifecycle.durations.job_stopping_s = 2.0  # long enough for a loaded machine
    sm().create_training_job(**training_request("job-a"))
    sm().stop_training_job(TrainingJobName="job-a")
    assert sm().describe_training_job(TrainingJobName="job-a")["TrainingJobStatus"] == "Stopping"
    sm().stop_training_job(TrainingJobName="job-a")  # a second stop while Stopping is accepted
    deadline = time.monotonic() + 15
    while sm().describe_training_job(TrainingJobName="job-a")["TrainingJobStatus"] == "Stopping":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sm().describe_training_job(TrainingJobName="job-a")["TrainingJobStatus"] == "Stopped"


# -- quotas, service rules, throttling -----------------------------------------------------------
def test_an_instance_quota_refuses_a_job_until_capacity_is_released(shims: Shims) -> None:
    playback: Any = shims.sagemaker_backend
    shims.lifecycle.quotas.set(training_usage("ml.m5.xlarge"), 2)
    sm().create_training_job(**training_request("job-a", count=2))
    with pytest.raises(ClientError) as refused:
        sm().create_training_job(**training_request("job-b"))
    assert error(refused) == (
        "ResourceLimitExceeded",
        "The account-level service limit 'ml.m5.xlarge for training job usage' is 2 Instances, with current "
        "utilization of 2 Instances and a request delta of 1 Instances. Please contact AWS support to "
        "request an increase for this limit.",
    )
    sm().create_training_job(**training_request("job-c", instance_type="ml.c5.xlarge"))  # another type
    playback.complete("job-a")
    sm().create_training_job(**training_request("job-b"))
    assert sm().describe_training_job(TrainingJobName="job-b")["TrainingJobStatus"] == "InProgress"


def test_warm_pools_default_to_no_quota_and_are_granted_only_within_one() -> None:
    asks = training_request("j", count=2)
    asks["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 600
    book = QuotaBook()
    assert book.limit(warm_pool_usage("ml.m5.xlarge")) == 0
    assert not book.warm_pool_granted(asks)
    book.set(warm_pool_usage("ml.m5.xlarge"), 2)
    assert book.warm_pool_granted(asks)


def test_a_completed_job_keeps_a_warm_pool_only_within_the_warm_pool_quota(shims: Shims) -> None:
    """Issue 26 finding 12's ground truth: the default warm-pool quota is 0, so a job asking for
    a pool gets none, and no error (train-warm-pools-resource-limits)."""
    playback: Any = shims.sagemaker_backend

    def run(name: str) -> dict[str, Any]:
        request = training_request(name)
        request["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 600
        sm().create_training_job(**request)
        playback.complete(name)
        described: dict[str, Any] = sm().describe_training_job(TrainingJobName=name)
        return described

    assert "WarmPoolStatus" not in run("job-a")
    shims.lifecycle.quotas.set(warm_pool_usage("ml.m5.xlarge"), 1)
    assert run("job-b")["WarmPoolStatus"]["Status"] == "Available"
    assert "WarmPoolStatus" not in run("job-c")  # job-b's pool holds the one instance


def test_an_endpoint_quota_refuses_an_endpoint_beyond_it(shims: Shims) -> None:
    shims.lifecycle.quotas.set("ml.m5.xlarge for endpoint usage", 1)
    endpoint("ep")
    sm().create_endpoint_config(
        EndpointConfigName="ep2-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "ep-model",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    with pytest.raises(ClientError) as refused:
        sm().create_endpoint(EndpointName="ep2", EndpointConfigName="ep2-config")
    code, message = error(refused)
    assert code == "ResourceLimitExceeded"
    assert message.startswith(
        "The account-level service limit 'ml.m5.xlarge for endpoint usage' is 1 Instances"
    )
    backend().endpoints["ep"].endpoint_status = "Failed"  # a failed endpoint holds no instances
    sm().create_endpoint(EndpointName="ep2", EndpointConfigName="ep2-config")


def test_create_training_job_is_held_to_the_service_rules(shims: Shims) -> None:
    request = training_request("job-a")
    request["StoppingCondition"]["MaxWaitTimeInSeconds"] = 120  # without managed spot training
    with pytest.raises(ClientError) as refused:
        sm().create_training_job(**request)
    code, message = error(refused)
    assert (
        code == "ValidationException"
        and "MaxWaitTimeInSeconds only with EnableManagedSpotTraining" in message
    )
    assert "job-a" not in backend().training_jobs


def test_throttling_is_answered_as_sagemaker_answers_it(shims: Shims) -> None:
    with behaviour_installed(ServiceBehaviour()) as behaviour:
        behaviour.throttle_sagemaker("CreateTrainingJob", times=1)
        with pytest.raises(ClientError) as throttled:
            sm().create_training_job(**training_request("job-a"))
        assert error(throttled) == ("ThrottlingException", "Rate exceeded")
        sm().create_training_job(**training_request("job-a"))


# -- events from AWS's samples --------------------------------------------------------------------
def _describe_like(detail_type: str) -> dict[str, Any]:
    """The sample's own detail as a Describe* answer (timestamps as datetimes, tags as a list)."""
    detail = dict(events.sample(detail_type)["detail"])
    for key, value in list(detail.items()):
        if key.endswith("Time"):
            ms = int(float(value)) if str(value).replace(".", "").isdigit() else None
            detail[key] = (
                datetime.fromtimestamp(ms / 1000, UTC)
                if ms is not None
                else datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            )
    if "EndpointStatus" in detail:
        detail["EndpointStatus"] = "InService"
    detail.pop("Tags", None)
    return detail


@pytest.mark.parametrize("detail_type", sorted(events.SAMPLE_FILES))
def test_each_published_sample_is_rebuilt_field_for_field(detail_type: str) -> None:
    built = events.build_detail(detail_type, _describe_like(detail_type), tags=[])
    assert json.dumps(built) == json.dumps(events.sample(detail_type)["detail"])


def test_the_endpoint_event_says_its_status_in_upper_snake_case() -> None:
    assert [events.upper_snake(s) for s in ("InService", "OutOfService", "SystemUpdating", "Failed")] == [
        "IN_SERVICE",
        "OUT_OF_SERVICE",
        "SYSTEM_UPDATING",
        "FAILED",
    ]


def test_a_finished_job_puts_the_samples_fields_on_the_bus(
    shims: Shims, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dtrain.emulator import event_bus

    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(event_bus, "put_event", lambda a, r, s, t, detail, res: sent.append((t, detail)))
    playback: Any = shims.sagemaker_backend
    sm().create_training_job(**training_request("job-a", Tags=[{"Key": "team", "Value": "ml"}]))
    playback.fail("job-a", "AlgorithmError: boom")
    [(detail_type, detail)] = sent
    assert detail_type == "SageMaker Training Job State Change"
    sample_keys = list(events.sample(detail_type)["detail"])
    assert [k for k in detail if k != "FailureReason"] == [k for k in sample_keys if k in detail]
    assert detail["TrainingJobStatus"] == "Failed" and detail["FailureReason"] == "AlgorithmError: boom"
    assert detail["Tags"] == {"team": "ml"}
    assert detail["CreationTime"].isdigit()  # the sample's form: a string of milliseconds


def test_transform_jobs_are_held_to_the_instances_across_all_transform_jobs() -> None:
    """'Number of instances across all transform jobs' (quota code L-60D2A6F0) counts every
    running transform job's instances, whatever their type, as the training and processing
    across-all quotas do."""
    from types import SimpleNamespace

    from dtrain.emulator.lifecycle import gate
    from dtrain.emulator.lifecycle.quotas import ALL_TRANSFORM

    running = SimpleNamespace(
        transform_job_status="InProgress",
        transform_resources={"InstanceType": "ml.m5.large", "InstanceCount": 2},
    )
    account = SimpleNamespace(
        training_jobs={}, processing_jobs={}, transform_jobs={"t1": running}, endpoints={}
    )
    book = QuotaBook()
    book.set(ALL_TRANSFORM, 3)
    params = {"TransformResources": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2}}
    with pytest.raises(gate.Refused) as refused:
        gate.check_quotas(book, account, "CreateTransformJob", params)
    assert refused.value.code == "ResourceLimitExceeded"
    assert refused.value.message.startswith(
        "The account-level service limit 'Number of instances across all transform jobs' is 3 "
        "Instances, with current utilization of 2 Instances and a request delta of 2 Instances."
    )
    running.transform_job_status = "Completed"
    gate.check_quotas(book, account, "CreateTransformJob", params)  # the instances are free again
