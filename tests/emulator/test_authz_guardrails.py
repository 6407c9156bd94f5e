"""Issue 29, finding 9: a platform team's guardrail on SageMaker's condition keys is decided by the
emulator's policy engine from the request, as AWS decides it.

The checks come from dtrain.emulator.authz.calls (the request's keys, sagemaker_keys); the
decision from @cloud-copilot/iam-simulate in strict mode, which also refuses a key the action
does not support (so each key sent is one the Service Authorization Reference lists for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dtrain.emulator.authz.calls import Call, checks_for
from dtrain.emulator.authz.engine import PolicyEngine, Request
from dtrain.emulator.authz.sagemaker_keys import SUPPORTED, request_context

ACCT = "123456789012"
ROLE = f"arn:aws:iam::{ACCT}:role/submit"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/submit/s"

# What a platform team attaches: ml.g5 only, at most 1 day, no warm pool over an hour.
GUARDRAIL = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
        {
            "Sid": "InstanceTypesAllowList",
            "Effect": "Deny",
            "Action": ["sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"],
            "Resource": "*",
            "Condition": {"ForAnyValue:StringNotLike": {"sagemaker:InstanceTypes": ["ml.g5.*"]}},
        },
        {
            "Sid": "MaxRunAtMostOneDay",
            "Effect": "Deny",
            "Action": "sagemaker:CreateTrainingJob",
            "Resource": "*",
            "Condition": {"NumericGreaterThan": {"sagemaker:MaxRuntimeInSeconds": "86400"}},
        },
        {
            "Sid": "WarmPoolAtMostOneHour",
            "Effect": "Deny",
            "Action": "sagemaker:CreateTrainingJob",
            "Resource": "*",
            "Condition": {"NumericGreaterThan": {"sagemaker:KeepAlivePeriod": "3600"}},
        },
    ],
}


@pytest.fixture(scope="module")
def engine() -> Iterator[PolicyEngine]:
    eng = PolicyEngine()
    yield eng
    eng.close()


class NoState:
    def key(self, key_id: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


def _training(
    instance_type: str = "ml.g5.xlarge", max_run: int = 3600, keep_alive: int = 0
) -> dict[str, Any]:
    resources: dict[str, Any] = {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30}
    if keep_alive:
        resources["KeepAlivePeriodInSeconds"] = keep_alive
    return {
        "TrainingJobName": "dtrain-a-1",
        "RoleArn": f"arn:aws:iam::{ACCT}:role/exec",
        "ResourceConfig": resources,
        "StoppingCondition": {"MaxRuntimeInSeconds": max_run},
        "EnableNetworkIsolation": False,
        "Tags": [{"Key": "dtrain:team", "Value": "nlp"}],
    }


def _decide(engine: PolicyEngine, op: str, params: dict[str, Any]) -> str:
    (check, *_) = checks_for(NoState(), Call("sagemaker", op, params, "us-east-1", ACCT))  # type: ignore[arg-type]
    context = (("aws:PrincipalArn", ROLE), ("aws:PrincipalAccount", ACCT), *check.context)
    request = Request(SESSION, check.action, check.resource, ACCT, context)
    return engine.decide(request, [("guardrail", GUARDRAIL)]).result


def test_the_instance_type_allow_list_denies_a_p5_training_job_and_admits_a_g5_one(
    engine: PolicyEngine,
) -> None:
    assert _decide(engine, "CreateTrainingJob", _training("ml.p5.48xlarge")) == "ExplicitlyDenied"
    assert _decide(engine, "CreateTrainingJob", _training("ml.g5.xlarge")) == "Allowed"


def test_every_instance_group_counts_toward_the_allow_list(engine: PolicyEngine) -> None:
    heterogeneous = _training()
    del heterogeneous["ResourceConfig"]["InstanceType"]
    heterogeneous["ResourceConfig"]["InstanceGroups"] = [
        {"InstanceGroupName": "a", "InstanceType": "ml.g5.xlarge", "InstanceCount": 1},
        {"InstanceGroupName": "b", "InstanceType": "ml.p4d.24xlarge", "InstanceCount": 1},
    ]
    assert _decide(engine, "CreateTrainingJob", heterogeneous) == "ExplicitlyDenied"


def test_max_run_and_the_warm_pool_are_bounded_by_numeric_conditions(engine: PolicyEngine) -> None:
    assert _decide(engine, "CreateTrainingJob", _training(max_run=28 * 86400)) == "ExplicitlyDenied"
    assert _decide(engine, "CreateTrainingJob", _training(keep_alive=3601)) == "ExplicitlyDenied"
    assert _decide(engine, "CreateTrainingJob", _training(max_run=86400, keep_alive=3600)) == "Allowed"


def test_a_processing_job_carries_its_cluster_instance_type(engine: PolicyEngine) -> None:
    processing = {
        "ProcessingJobName": "dtrain-a-prep",
        "RoleArn": f"arn:aws:iam::{ACCT}:role/exec",
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 1}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    assert _decide(engine, "CreateProcessingJob", processing) == "ExplicitlyDenied"


def test_the_request_tags_and_each_supported_key_are_sent_only_for_actions_that_take_them() -> None:
    context = dict(request_context("CreateTrainingJob", _training(keep_alive=60)))
    assert context["sagemaker:InstanceTypes"] == ("ml.g5.xlarge",)
    assert context["sagemaker:MaxRuntimeInSeconds"] == "3600"
    assert context["sagemaker:KeepAlivePeriod"] == "60"
    assert context["sagemaker:NetworkIsolation"] == "false"
    assert context["aws:RequestTag/dtrain:team"] == "nlp" and context["aws:TagKeys"] == ("dtrain:team",)
    assert "sagemaker:KeepAlivePeriod" not in SUPPORTED["CreateProcessingJob"]
    assert request_context("DescribeTrainingJob", {"TrainingJobName": "x"}) == ()
