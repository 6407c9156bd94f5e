"""Finding 1 of issue 29: no team writes over another team's endpoint.

The `model` phase checks the endpoint's team tag before the repack writes its archive and before
CreateModel; the `deploy` phase checks it again before CreateEndpointConfig and UpdateEndpoint.
SageMaker and S3 are recording fakes: what matters is which writes happen before the refusal.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec_rules import EXECUTION_TAG_KEY, TEAM_TAG_KEY
from dtrain.orchestration.hosting import HostingRequest, HostingSubmitter
from dtrain.orchestration.ownership import EndpointOwnedElsewhere, owner_tags, team_of

from .conftest import PLATFORM

EXEC = "arn:aws:states:us-east-1:123456789012:execution:sm:run-2"
ENDPOINT = "dtrain-shared-ep"
ARTIFACT = "s3://artifacts/jobs/dtrain-train-1/output/model.tar.gz"


class RecordingSageMaker:
    """DescribeEndpoint / ListTags answer from `endpoints`; every write is recorded."""

    def __init__(self, endpoints: dict[str, list[dict[str, str]]]) -> None:
        self.endpoints = endpoints
        self.writes: list[str] = []

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        if EndpointName not in self.endpoints:
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "Could not find endpoint"}},
                "DescribeEndpoint",
            )
        return {
            "EndpointName": EndpointName,
            "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{EndpointName}",
            "EndpointConfigName": "dtrain-old-config",
            "EndpointStatus": "InService",
        }

    def list_tags(self, ResourceArn: str) -> dict[str, Any]:
        return {"Tags": self.endpoints[ResourceArn.rsplit("/", 1)[-1]]}

    def __getattr__(self, name: str) -> Any:
        if not name.startswith(("create_", "update_")):
            raise AttributeError(name)

        def write(**kwargs: Any) -> dict[str, Any]:
            self.writes.append(name)
            return {}

        return write


class RecordingS3:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            self.calls.append(name)
            return {"ContentLength": 10, "ETag": '"e"'}

        return call


def _spec(spec: dict[str, Any], *, code: bool) -> dict[str, Any]:
    deploy: dict[str, Any] = {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "endpoint_name": ENDPOINT,
        "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1",
    }
    if code:
        # Inference code of the block's own: the model phase would repack (S3 writes) first.
        deploy.update(
            entry_point="inference.py", source_dir="s3://artifacts/run-2/source/inference/sourcedir.tar.gz"
        )
    return {**spec, "deploy": deploy}


def _submitter(team: str, endpoints: dict[str, list[dict[str, str]]], s3: RecordingS3) -> Any:
    platform = PlatformSettings.from_dict({**PLATFORM, "team": team})
    sagemaker = RecordingSageMaker(endpoints)
    submitter = HostingSubmitter(
        ledger=None,  # type: ignore[arg-type]
        sagemaker=sagemaker,
        sfn=None,
        platform=platform,
        region="us-east-1",
        s3=s3,
    )
    return submitter, sagemaker


def _request(spec: dict[str, Any], **extra: Any) -> HostingRequest:
    return HostingRequest(
        spec=spec,
        training={"status": "Completed", "model_artifact": ARTIFACT, "job_name": "dtrain-train-1"},
        execution_arn=EXEC,
        execution_name="run-2",
        **extra,
    )


def _tags(team: str | None) -> list[dict[str, str]]:
    tags = [{"Key": EXECUTION_TAG_KEY, "Value": "arn:aws:states:...:execution:sm:run-1"}]
    return tags + ([{"Key": TEAM_TAG_KEY, "Value": team}] if team else [])


@pytest.mark.parametrize(
    "owner", [[{"Key": TEAM_TAG_KEY, "Value": "vision"}], []], ids=["other-team", "not-dtrain"]
)
def test_the_model_phase_refuses_another_teams_endpoint_before_the_repack_and_create_model(
    spec: dict[str, Any], owner: list[dict[str, str]]
) -> None:
    s3 = RecordingS3()
    submitter, sagemaker = _submitter("nlp", {ENDPOINT: owner}, s3)
    with pytest.raises(EndpointOwnedElsewhere, match=f"endpoint {ENDPOINT} belongs to .*team nlp may not"):
        submitter.create_model(_request(_spec(spec, code=True)))
    assert s3.calls == [] and sagemaker.writes == []


def test_the_deploy_phase_refuses_another_teams_endpoint_before_any_config_or_update(
    spec: dict[str, Any],
) -> None:
    submitter, sagemaker = _submitter("nlp", {ENDPOINT: _tags("vision")}, RecordingS3())
    model = {"endpoint_name": ENDPOINT, "training_job_name": "dtrain-train-1"}
    with pytest.raises(EndpointOwnedElsewhere):
        submitter.deploy(_request(_spec(spec, code=False), model=model, task_token="tok"))
    assert sagemaker.writes == []


def test_the_teams_own_endpoint_is_checked_and_the_model_is_created_with_both_owner_tags(
    spec: dict[str, Any],
) -> None:
    submitter, sagemaker = _submitter("nlp", {ENDPOINT: _tags("nlp")}, RecordingS3())
    out = submitter.create_model(_request(_spec(spec, code=False)))
    assert out["endpoint_name"] == ENDPOINT and sagemaker.writes == ["create_model"]


def test_owner_tags_replace_a_specs_team_tag_and_untagged_dtrain_endpoints_are_the_default_teams() -> None:
    spoofed = [{"Key": TEAM_TAG_KEY, "Value": "vision"}, {"Key": "project", "Value": "x"}]
    tags = owner_tags(spoofed, execution="arn:e", team="nlp")
    assert tags == [
        {"Key": "project", "Value": "x"},
        {"Key": EXECUTION_TAG_KEY, "Value": "arn:e"},
        {"Key": TEAM_TAG_KEY, "Value": "nlp"},
    ]
    assert team_of(_tags(None)) == "default" and team_of([]) is None
