"""Endpoint and transform-job rows through job events, reconcile and abort (dtrain.orchestration.kinds).

SageMaker here is a recording fake: these tests pin what the orchestration decides from what
Describe* says (the emulator's real hosting is tests/emulator/test_hosting.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from dtrain.orchestration.events import handle_execution_end, handle_job_event, reconcile
from dtrain.orchestration.job_kinds import ENDPOINT, TRANSFORM
from dtrain.orchestration.kinds import endpoint_outcome
from dtrain.orchestration.ledger import Ledger

EXEC = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1"


class FakeSageMaker:
    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.transforms: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    @staticmethod
    def _missing(op: str) -> ClientError:
        return ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find"}}, op)

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        if EndpointName not in self.endpoints:
            raise self._missing("DescribeEndpoint")
        return {
            "EndpointName": EndpointName,
            "EndpointArn": f"arn:ep/{EndpointName}",
            **self.endpoints[EndpointName],
        }

    def describe_transform_job(self, TransformJobName: str) -> dict[str, Any]:
        if TransformJobName not in self.transforms:
            raise self._missing("DescribeTransformJob")
        return {"TransformJobName": TransformJobName, **self.transforms[TransformJobName]}

    def stop_transform_job(self, TransformJobName: str) -> None:
        self.calls.append(("stop_transform_job", TransformJobName))
        self.transforms[TransformJobName]["TransformJobStatus"] = "Stopping"

    def delete_endpoint(self, EndpointName: str) -> None:
        # AWS refuses DeleteEndpoint while SageMaker works on the endpoint (kinds.py's docstring).
        if self.endpoints[EndpointName]["EndpointStatus"] not in ("InService", "Failed", "OutOfService"):
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "Cannot delete in-progress endpoint"}},
                "DeleteEndpoint",
            )
        self.calls.append(("delete_endpoint", EndpointName))
        self.endpoints[EndpointName]["EndpointStatus"] = "Deleting"


def _row(ledger: Ledger, key: str, kind: str, resource: str = "", token: str = "tok") -> None:
    ledger.put_submitted(
        job_name=key,
        execution_arn=EXEC,
        execution_name="run-1",
        task_token=token,
        spec_digest="d",
        spec_summary="s",
        kind=kind,
        resource_name=resource,
    )


def _endpoint_event(name: str, config: str, status: str, reason: str | None = None) -> dict[str, Any]:
    detail = {
        "EndpointName": name,
        "EndpointArn": f"arn:ep/{name}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
    }
    if reason:
        detail["FailureReason"] = reason
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Endpoint State Change", "detail": detail}


def test_endpoint_outcome_is_completed_only_in_service_with_the_rows_config() -> None:
    assert (
        endpoint_outcome("cfg-2", {"EndpointStatus": "InService", "EndpointConfigName": "cfg-2"}).status
        == "Completed"
    )
    assert (
        endpoint_outcome("cfg-2", {"EndpointStatus": "Updating", "EndpointConfigName": "cfg-1"}).status
        == "InProgress"
    )
    assert (
        endpoint_outcome("cfg-2", {"EndpointStatus": "InService", "EndpointConfigName": "cfg-1"}).status
        == "InProgress"
    )
    rolled_back = endpoint_outcome(
        "cfg-2",
        {
            "EndpointName": "ep",
            "EndpointStatus": "InService",
            "EndpointConfigName": "cfg-1",
            "FailureReason": "no /ping",
        },
    )
    assert rolled_back.status == "Failed" and rolled_back.error() == "SageMaker.EndpointFailed"
    assert rolled_back.cause() == "endpoint ep kept its previous config: no /ping"
    failed = endpoint_outcome(
        "cfg-2", {"EndpointName": "ep", "EndpointStatus": "Failed", "EndpointConfigName": "cfg-2"}
    )
    assert (failed.status, failed.failure_reason) == ("Failed", "endpoint ep is Failed")


def test_endpoint_events_answer_the_row_of_the_config_they_name(ledger: Ledger, sfn: Any) -> None:
    _row(ledger, "dtrain-cfg-2", ENDPOINT, "dtrain-ep")
    creating = _endpoint_event("dtrain-ep", "dtrain-cfg-2", "Creating")
    assert handle_job_event(creating, ledger=ledger, sfn=sfn) == "ignored: not terminal"
    in_service = _endpoint_event("dtrain-ep", "dtrain-cfg-2", "InService")
    assert handle_job_event(in_service, ledger=ledger, sfn=sfn) == "answered"
    assert [c[0] for c in sfn.calls] == ["send_task_success"]
    row = ledger.get("dtrain-cfg-2")
    assert row is not None and row.status == "Completed" and not row.is_open and row.resource == "dtrain-ep"


def test_a_rolled_back_update_fails_the_row_waiting_on_that_endpoint(ledger: Ledger, sfn: Any) -> None:
    _row(ledger, "dtrain-cfg-new", ENDPOINT, "dtrain-ep")
    # The event names the endpoint's previous config: the row is found by the endpoint's name.
    event = _endpoint_event("dtrain-ep", "dtrain-cfg-old", "InService", "the new model did not answer /ping")
    assert handle_job_event(event, ledger=ledger, sfn=sfn) == "answered"
    name, kwargs = sfn.calls[0]
    assert name == "send_task_failure" and kwargs["error"] == "SageMaker.EndpointFailed"
    assert "kept its previous config: the new model did not answer /ping" in kwargs["cause"]


def test_transform_events_answer_by_job_name_with_the_transform_errors(ledger: Ledger, sfn: Any) -> None:
    _row(ledger, "dtrain-t-1", TRANSFORM)
    event = {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Transform Job State Change",
        "detail": {
            "TransformJobName": "dtrain-t-1",
            "TransformJobStatus": "Stopped",
            "TransformJobArn": "arn:t",
        },
    }
    assert handle_job_event(event, ledger=ledger, sfn=sfn) == "answered"
    assert sfn.calls[0][1]["error"] == "SageMaker.TransformJobStopped"


def test_abort_stops_a_running_transform_and_deletes_a_created_endpoint_once_sagemaker_accepts(
    ledger: Ledger, sfn: Any
) -> None:
    """Issue 26 finding 1: DeleteEndpoint on a Creating endpoint is refused; the abort read that
    ValidationException as "not found" and the endpoint billed on. Now the row waits, "Stopping",
    and reconcile deletes the endpoint once it is InService."""
    sm = FakeSageMaker()
    sm.transforms["dtrain-t-1"] = {"TransformJobStatus": "InProgress"}
    sm.endpoints["dtrain-new"] = {"EndpointStatus": "Creating", "EndpointConfigName": "dtrain-cfg-a"}
    sm.endpoints["dtrain-old"] = {"EndpointStatus": "Updating", "EndpointConfigName": "dtrain-cfg-prev"}
    _row(ledger, "dtrain-t-1", TRANSFORM, token="t1")
    _row(ledger, "dtrain-cfg-a", ENDPOINT, "dtrain-new", token="t2")
    _row(ledger, "dtrain-cfg-b", ENDPOINT, "dtrain-old", token="t3")
    for key in ("dtrain-t-1", "dtrain-cfg-a", "dtrain-cfg-b"):
        ledger.set_status(key, "InProgress")
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXEC, "status": "ABORTED"},
    }
    stopped = handle_execution_end(event, ledger=ledger, sagemaker=sm)
    assert sorted(stopped) == ["dtrain-cfg-a", "dtrain-t-1"]
    assert sm.calls == [("stop_transform_job", "dtrain-t-1")]  # no refused DeleteEndpoint
    row = ledger.get("dtrain-cfg-a")
    assert row is not None and row.status == "Stopping" and not row.is_open
    # The endpoint being updated keeps serving its previous model; nobody waits on its row.
    row = ledger.get("dtrain-cfg-b")
    assert row is not None and not row.is_open

    sfn.execution_status[EXEC] = "ABORTED"
    assert reconcile(ledger=ledger, sagemaker=sm, sfn=sfn).stopped == []  # still Creating: waits
    sm.endpoints["dtrain-new"]["EndpointStatus"] = "InService"
    # Its InService event must not close the row as Completed: the endpoint is still to delete.
    in_service = _endpoint_event("dtrain-new", "dtrain-cfg-a", "IN_SERVICE")
    assert (
        handle_job_event(in_service, ledger=ledger, sfn=sfn)
        == "ignored: endpoint left to reconcile to delete"
    )
    assert reconcile(ledger=ledger, sagemaker=sm, sfn=sfn).stopped == ["dtrain-cfg-a"]
    assert ("delete_endpoint", "dtrain-new") in sm.calls
    sm.endpoints.pop("dtrain-new")  # Deleting -> gone
    reconcile(ledger=ledger, sagemaker=sm, sfn=sfn)
    row = ledger.get("dtrain-cfg-a")
    assert row is not None and row.status == "Stopped"
    assert "dtrain-cfg-a" not in {r.job_name for r in ledger.active_rows()}


def test_an_update_of_an_aborted_execution_finishes_and_the_serving_endpoint_is_kept(
    ledger: Ledger, sfn: Any
) -> None:
    """An abort while the endpoint is Updating: no call cancels an update, and the endpoint
    served before the execution. Reconcile once marked the row "Stopping" and, the update done,
    deleted the serving endpoint (the fault matrix's abort-while-Updating row found it)."""
    sm = FakeSageMaker()
    sm.endpoints["dtrain-old"] = {"EndpointStatus": "Updating", "EndpointConfigName": "dtrain-cfg-prev"}
    _row(ledger, "dtrain-cfg-b", ENDPOINT, "dtrain-old")
    ledger.set_status("dtrain-cfg-b", "InProgress")
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXEC, "status": "ABORTED"},
    }
    assert handle_execution_end(event, ledger=ledger, sagemaker=sm) == []
    sfn.execution_status[EXEC] = "ABORTED"
    assert reconcile(ledger=ledger, sagemaker=sm, sfn=sfn).stopped == []  # still Updating
    row = ledger.get("dtrain-cfg-b")
    assert row is not None and row.status == "InProgress" and not row.is_open
    sm.endpoints["dtrain-old"] = {"EndpointStatus": "InService", "EndpointConfigName": "dtrain-cfg-b"}
    for _ in range(2):
        assert reconcile(ledger=ledger, sagemaker=sm, sfn=sfn).stopped == []
    assert sm.calls == []  # no DeleteEndpoint: the endpoint serves the update's model
    row = ledger.get("dtrain-cfg-b")
    assert row is not None and row.status == "Completed"
    assert "dtrain-cfg-b" not in {r.job_name for r in ledger.active_rows()}


def test_a_failed_endpoint_of_an_aborted_execution_is_deleted(ledger: Ledger, sfn: Any) -> None:
    sm = FakeSageMaker()
    sm.endpoints["dtrain-new"] = {"EndpointStatus": "Creating", "EndpointConfigName": "dtrain-cfg-a"}
    _row(ledger, "dtrain-cfg-a", ENDPOINT, "dtrain-new")
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXEC, "status": "ABORTED"},
    }
    handle_execution_end(event, ledger=ledger, sagemaker=sm)
    sm.endpoints["dtrain-new"]["EndpointStatus"] = "Failed"
    sfn.execution_status[EXEC] = "ABORTED"
    assert reconcile(ledger=ledger, sagemaker=sm, sfn=sfn).stopped == ["dtrain-cfg-a"]


def test_endpoint_events_in_eventbridges_casing_answer_the_row(ledger: Ledger, sfn: Any) -> None:
    """Issue 26 finding 3: AWS's sample "SageMaker Endpoint State Change" writes
    `"EndpointStatus": "IN_SERVICE"` (automating-sagemaker-with-eventbridge); every such event
    was ignored as not terminal."""
    _row(ledger, "dtrain-cfg-2", ENDPOINT, "dtrain-ep")
    sample = {
        "version": "0",
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/dtrain-ep"],
        "detail": {
            "EndpointName": "dtrain-ep",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/dtrain-ep",
            "EndpointConfigName": "dtrain-cfg-2",
            "ProductionVariants": [{"DesiredWeight": 1.0, "DesiredInstanceCount": 1.0}],
            "EndpointStatus": "IN_SERVICE",
            "CreationTime": 1592411992203.0,
            "LastModifiedTime": 1592411994287.0,
            "Tags": {},
        },
    }
    assert handle_job_event(sample, ledger=ledger, sfn=sfn) == "answered"
    assert [c[0] for c in sfn.calls] == ["send_task_success"]
    _row(ledger, "dtrain-cfg-3", ENDPOINT, "dtrain-ep3", token="t3")
    failed = _endpoint_event("dtrain-ep3", "dtrain-cfg-3", "FAILED", "image could not be pulled")
    assert handle_job_event(failed, ledger=ledger, sfn=sfn) == "answered"
    assert sfn.calls[-1][1]["cause"] == "image could not be pulled"


@pytest.mark.parametrize(
    ("event_status", "describe_status"),
    [("IN_SERVICE", "InService"), ("OUT_OF_SERVICE", "OutOfService"), ("SYSTEM_UPDATING", "SystemUpdating")],
)
def test_endpoint_status_reads_both_casings(event_status: str, describe_status: str) -> None:
    from dtrain.orchestration.kinds import endpoint_status

    assert endpoint_status({"EndpointStatus": event_status}) == describe_status
    assert endpoint_status({"EndpointStatus": describe_status}) == describe_status


def test_reconcile_answers_a_lost_transform_event_and_stops_one_whose_execution_ended(
    ledger: Ledger, sfn: Any
) -> None:
    sm = FakeSageMaker()
    sm.transforms["dtrain-t-done"] = {"TransformJobStatus": "Completed", "TransformJobArn": "arn:t"}
    _row(ledger, "dtrain-t-done", TRANSFORM, token="done")
    report = reconcile(ledger=ledger, sagemaker=sm, sfn=sfn)
    assert report.answered == ["dtrain-t-done"]

    sm.transforms["dtrain-t-orphan"] = {"TransformJobStatus": "InProgress"}
    _row(ledger, "dtrain-t-orphan", TRANSFORM, token="orphan")
    sfn.execution_status[EXEC] = "ABORTED"
    report = reconcile(ledger=ledger, sagemaker=sm, sfn=sfn)
    assert report.stopped == ["dtrain-t-orphan"]
    assert ("stop_transform_job", "dtrain-t-orphan") in sm.calls


@pytest.mark.parametrize("status", ["InService", "Failed"])
def test_an_execution_end_leaves_a_finished_endpoint_alone(ledger: Ledger, sfn: Any, status: str) -> None:
    sm = FakeSageMaker()
    sm.endpoints["dtrain-ep"] = {"EndpointStatus": status, "EndpointConfigName": "dtrain-cfg"}
    _row(ledger, "dtrain-cfg", ENDPOINT, "dtrain-ep")
    ledger.mark_closed("dtrain-cfg", "Completed" if status == "InService" else "Failed")
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": EXEC, "status": "SUCCEEDED"},
    }
    assert handle_execution_end(event, ledger=ledger, sagemaker=sm) == []
    assert sm.calls == []


def test_prepare_plans_the_hosting_step_and_refuses_what_the_platform_does_not_do(
    platform: Any, spec: dict[str, Any]
) -> None:
    from dtrain.jobspec.errors import SpecError
    from dtrain.orchestration.hosting import DEPLOY_TIMEOUT_S, hosting_plan

    deploy = {"instance_type": "ml.m5.large", "initial_instance_count": 1, "framework_version": "2.2"}
    assert hosting_plan(spec, platform) is None
    assert hosting_plan({**spec, "deploy": deploy}, platform, is_sweep=True) == {
        "kind": "deploy",
        "timeout_seconds": DEPLOY_TIMEOUT_S,
        "best_of_sweep": True,
    }
    # Inference code of the block's own is repacked into the model by the `model` phase, from S3
    # (dtrain submit uploads local code): code still on the submitter's disk is refused.
    with pytest.raises(
        SpecError, match=r"deploy\.source_dir: None: the platform reads the inference code from S3"
    ):
        hosting_plan({**spec, "deploy": {**deploy, "entry_point": "serve.py"}}, platform)
    with_code = {**deploy, "entry_point": "serve.py", "source_dir": "s3://code/sourcedir.tar.gz"}
    assert hosting_plan({**spec, "deploy": with_code}, platform) == {
        "kind": "deploy",
        "timeout_seconds": DEPLOY_TIMEOUT_S,
        "best_of_sweep": False,
    }
    transform = {
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "data": "s3://d/x",
        "framework_version": "2.2",
    }
    with pytest.raises(SpecError, match="one execution either deploys or transforms"):
        hosting_plan({**spec, "deploy": deploy, "transform": transform}, platform)
