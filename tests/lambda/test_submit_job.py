"""Submit: prepare validates and plans; submit creates exactly one job per attempt."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from dtrain.jobspec.errors import SpecError, SpecErrors
from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.errors import CreateThrottled
from dtrain.orchestration.execution_identity import EXECUTION_TAG
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.submit import (
    SubmitRequest,
    Submitter,
    prepare,
    sagemaker_client,
    sagemaker_create_client,
)

EXEC = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1"


def _submitter(ledger: Ledger, sfn: Any, platform: Any, attempts: int = 3) -> Submitter:
    """Built as the Submit Lambda builds it: botocore retries off for CreateTrainingJob only."""
    return Submitter(
        ledger=ledger,
        sagemaker=sagemaker_client("us-east-1"),
        sagemaker_create=sagemaker_create_client("us-east-1"),
        sfn=sfn,
        platform=platform,
        region="us-east-1",
        backoff=BackoffPolicy(attempts=attempts, base_s=0.01, cap_s=0.02),
    )


def _request(spec: dict[str, Any], retry: int = 0, token: str = "token-0") -> SubmitRequest:
    return SubmitRequest(
        spec=spec, task_token=token, execution_arn=EXEC, execution_name="run-1", retry_count=retry
    )


def test_prepare_derives_the_wait_timeout_from_max_wait_plus_margin(
    spec: dict[str, Any], platform: Any
) -> None:
    spec["estimator"].update(use_spot_instances=True, max_run=3600, max_wait=7200)
    plan = prepare(spec, platform, region="us-east-1", margin_s=600)
    assert plan["timeout_seconds"] == 7800
    assert plan["is_sweep"] is False and len(plan["items"]) == 1


def test_prepare_refuses_a_bad_spec_with_the_field_named(spec: dict[str, Any], platform: Any) -> None:
    spec["estimator"].update(use_spot_instances=True, max_run=3600, max_wait=1800)
    with pytest.raises((SpecError, SpecErrors), match=r"estimator\.max_wait"):
        prepare(spec, platform, region="us-east-1")


def test_prepare_expands_a_sweep_and_checks_every_item(spec: dict[str, Any], platform: Any) -> None:
    spec["sweep"] = {
        "max_concurrency": 2,
        "objective": {"metric": "validation:accuracy"},
        "overrides": [{"lr": 0.1}, {"lr": 0.01}],
    }
    plan = prepare(spec, platform, region="us-east-1")
    assert plan["is_sweep"] and plan["max_concurrency"] == 2
    assert [i["overrides"] for i in plan["items"]] == [{"lr": 0.1}, {"lr": 0.01}]
    assert "sweep" not in plan["spec"]


def test_submit_records_the_token_before_creating_the_job(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    result = _submitter(ledger, sfn, platform).submit(_request(spec))
    row = ledger.get(result.job_name)
    assert row is not None and row.task_token == "token-0" and row.token_state == "OPEN"
    assert row.status == "InProgress" and row.execution_arn == EXEC
    assert result.job_name.startswith("dtrain-")
    sm = boto3.client("sagemaker", region_name="us-east-1")
    arn = sm.describe_training_job(TrainingJobName=result.job_name)["TrainingJobArn"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags[EXECUTION_TAG] == EXEC
    assert "token-0" not in json.dumps(tags)  # tokens live in the ledger only


def test_retried_submit_adopts_the_running_job_with_its_new_token(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    first = _submitter(ledger, sfn, platform).submit(_request(spec, retry=0, token="token-0"))
    second = _submitter(ledger, sfn, platform).submit(_request(spec, retry=1, token="token-1"))
    assert second.adopted and second.job_name == first.job_name
    assert list(aws.jobs) == [first.job_name]
    row = ledger.get(first.job_name)
    assert row is not None and row.task_token == "token-1"


def test_reinvoked_submit_with_the_same_attempt_adopts_after_resource_in_use(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    first = _submitter(ledger, sfn, platform).submit(_request(spec))
    ledger.mark_closed(first.job_name, "InProgress")  # make the open-row lookup miss
    ledger._ddb.delete_item(TableName="ledger", Key={"job_name": {"S": first.job_name}})
    again = _submitter(ledger, sfn, platform).submit(_request(spec, token="token-again"))
    assert again.job_name == first.job_name and list(aws.jobs) == [first.job_name]


def test_a_job_that_finished_during_a_retry_is_answered_at_once(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    first = _submitter(ledger, sfn, platform).submit(_request(spec, token="token-0"))
    aws.complete(first.job_name, emit=False)
    second = _submitter(ledger, sfn, platform).submit(_request(spec, retry=1, token="token-1"))
    assert second.answered_now
    assert sfn.calls[-1][0] == "send_task_success" and sfn.calls[-1][1]["taskToken"] == "token-1"


def test_throttling_is_retried_then_surfaces_as_create_throttled(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    aws.throttle.rate_per_s = 0.001  # one call admitted, then throttled for ~1000 s
    _submitter(ledger, sfn, platform).submit(_request(spec))
    other = SubmitRequest(spec=spec, task_token="t", execution_arn=EXEC + "x", execution_name="run-2")
    with pytest.raises(CreateThrottled):
        _submitter(ledger, sfn, platform, attempts=3).submit(other)
    assert aws.throttle.refused == 3  # our loop only: botocore does not retry the create


def test_a_transient_sagemaker_error_on_a_read_is_retried_by_botocore(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """Issue 19 item 3: retries were off for every SageMaker call, so one 5xx on
    DescribeTrainingJob failed the Submit (and the execution) after the job was created."""
    from dtrain.emulator.service_behaviour import ServiceBehaviour, installed

    with installed(ServiceBehaviour()) as behaviour:
        behaviour.fail_sagemaker("DescribeTrainingJob", times=1)
        behaviour.throttle_sagemaker("DescribeTrainingJob", times=1)
        result = _submitter(ledger, sfn, platform).submit(_request(spec))
        assert [op for op, _ in behaviour.sagemaker_faults_served] == ["DescribeTrainingJob"] * 2
    row = ledger.get(result.job_name)
    assert row is not None and row.status == "InProgress"


def test_a_persistent_transient_error_surfaces_as_sagemaker_transient(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """The name the state machine retries Submit on; the retry adopts the job already made."""
    from dtrain.emulator.service_behaviour import ServiceBehaviour, installed
    from dtrain.orchestration.errors import SageMakerTransient

    with installed(ServiceBehaviour()) as behaviour:
        behaviour.fail_sagemaker("DescribeTrainingJob", code="ServiceUnavailable", status=503, times=3)
        with pytest.raises(SageMakerTransient):
            _submitter(ledger, sfn, platform).submit(_request(spec))
    (job,) = aws.jobs
    again = _submitter(ledger, sfn, platform).submit(_request(spec, retry=1, token="token-1"))
    assert again.adopted and again.job_name == job and list(aws.jobs) == [job]


def test_handler_prepare_and_submit_phases(
    ledger: Ledger, spec: dict[str, Any], load_handler: Any, aws: Any, lambda_context: Any
) -> None:
    handler = load_handler("submit_job").handler
    plan = handler({"phase": "prepare", "spec": spec}, lambda_context)
    assert plan["timeout_seconds"] == 3600 + 3600
    out = handler(
        {
            "phase": "submit",
            "spec": plan["spec"],
            "task_token": "tok",
            "execution_arn": EXEC,
            "execution_name": "run-1",
            "retry_count": 0,
            "execution_start": "2026-11-28T01:00:00.000Z",
        },
        lambda_context,
    )
    assert out["adopted"] is False and out["job_name"] in aws.jobs


@pytest.mark.parametrize("length", [55, 56])
def test_prepare_accepts_every_job_name_that_validate_accepts(
    spec: dict[str, Any], platform: Any, length: int
) -> None:
    """Issue 11 item 7: Prepare validated with `<job_name>-validate` (64-65 characters)."""
    from dtrain.jobspec.spec import parse_spec
    from dtrain.requests.training_request import build_training_job_request

    spec["job_name"] = ("dtrain-" + "x" * 60)[:length]
    assert build_training_job_request(parse_spec(spec), platform, region="us-east-1")  # dtrain validate
    plan = prepare(spec, platform, region="us-east-1")
    assert plan["spec"]["job_name"] == spec["job_name"]


def test_validation_leaves_room_for_the_tag_submit_adds(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """Issue 19 item 6: 50 spec tags passed validation, then Submit's own made 51; Submit adds
    two since issue 29 (the owning execution and the owning team)."""
    from dtrain.jobspec import spec_rules

    spec["estimator"]["tags"] = {f"k{i}": "v" for i in range(spec_rules.MAX_TAGS - 1)}
    with pytest.raises((SpecError, SpecErrors), match=r"estimator\.tags"):
        prepare(spec, platform, region="us-east-1")
    spec["estimator"]["tags"] = {f"k{i}": "v" for i in range(spec_rules.MAX_TAGS - 2)}
    prepare(spec, platform, region="us-east-1")
    job = _submitter(ledger, sfn, platform).submit(_request(spec)).job_name
    sent = aws.job(job).request
    assert len(sent["Tags"]) == spec_rules.MAX_TAGS
    assert [t["Key"] for t in sent["Tags"][-2:]] == [EXECUTION_TAG, spec_rules.TEAM_TAG_KEY]
    assert sent["Tags"][-1]["Value"] == platform.team == "default"


def test_a_retry_after_the_job_finished_and_its_row_closed_adopts_it(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """The job's event answered the failed attempt's token and closed the row before the
    retry ran: the retry answers its own token, it does not create a second job."""
    from dtrain.orchestration.events import handle_job_event

    first = _submitter(ledger, sfn, platform).submit(_request(spec, token="token-0"))
    aws.complete(first.job_name, emit=False)
    detail = {"TrainingJobName": first.job_name, "TrainingJobStatus": "Completed"}
    handle_job_event(
        {"detail-type": "SageMaker Training Job State Change", "detail": detail}, ledger=ledger, sfn=sfn
    )
    second = _submitter(ledger, sfn, platform).submit(_request(spec, retry=1, token="token-1"))
    assert second.adopted and second.answered_now and list(aws.jobs) == [first.job_name]
    assert sfn.calls[-1][1]["taskToken"] == "token-1"


def test_an_item_past_the_instance_quota_waits_for_capacity_then_creates_its_one_job(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """Issue 26 finding 5: ResourceLimitExceeded failed the item at once; a sweep wider than the
    quota lost most of its items within milliseconds. Now the item waits (CapacityWait, which
    the state machine retries with backoff) and its retry creates the job under the row's name."""
    from dtrain.emulator.service_behaviour import ServiceBehaviour, installed
    from dtrain.orchestration.errors import CapacityWait

    with installed(ServiceBehaviour()) as behaviour:
        behaviour.fail_sagemaker("CreateTrainingJob", code="ResourceLimitExceeded", status=400, times=1)
        with pytest.raises(CapacityWait, match="waiting for capacity"):
            _submitter(ledger, sfn, platform).submit(_request(spec))
    assert list(aws.jobs) == []
    (waiting,) = ledger.find_by_execution(EXEC)
    assert waiting.status == "Submitting"
    again = _submitter(ledger, sfn, platform).submit(_request(spec, retry=1, token="token-1"))
    assert again.job_name == waiting.job_name and list(aws.jobs) == [waiting.job_name]


def _numeric_sweep(spec: dict[str, Any], items: int, name: str = "hp") -> dict[str, Any]:
    overrides = [
        {f"{name}_{k:02d}": round(0.000123456789 * (i + k + 1), 12) for k in range(13)} for i in range(items)
    ]
    return {
        **spec,
        "sweep": {
            "max_concurrency": 40,
            "objective": {"metric": "validation:accuracy", "goal": "maximize"},
            "overrides": overrides,
        },
    }


def test_the_largest_sweep_with_thirteen_numeric_hyperparameters_fits_the_state_limit(
    spec: dict[str, Any], platform: Any
) -> None:
    """Issue 26 finding 7: 200 items of 13 numeric hyperparameters passed 262,144 bytes with the
    overrides carried three times; carried once, the worst case (every row failed with the
    longest reason) stays under the budget, which keeps a 10 % margin."""
    from dtrain.orchestration.state_budget import BUDGET_BYTES, STATE_LIMIT_BYTES

    plan = prepare(_numeric_sweep(spec, 200), platform, region="us-east-1")
    from dtrain.orchestration.state_budget import projected_peak_bytes

    peak = projected_peak_bytes(plan, platform.output_s3_uri, "validation:accuracy")
    assert peak <= BUDGET_BYTES < STATE_LIMIT_BYTES
    # Three copies of the overrides (the input, the plan, the ranked rows) would not have fit.
    overrides = len(json.dumps(plan["items"]))
    assert peak + 2 * overrides > STATE_LIMIT_BYTES


def test_a_sweep_whose_state_would_pass_the_limit_is_refused_before_any_job(
    spec: dict[str, Any], platform: Any
) -> None:
    long_names = _numeric_sweep(spec, 200, name="a_rather_long_hyperparameter_name")
    with pytest.raises(
        SpecError, match=r"sweep\.overrides: .*would reach [\d,]+ bytes; the limit is 262,144"
    ):
        prepare(long_names, platform, region="us-east-1")


def test_a_retry_the_index_does_not_show_yet_adopts_the_job_instead_of_making_a_second(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26, risks: the by_execution GSI is eventually consistent and a Retry with full
    jitter may come at once. With the retry count in the job name, a retry whose query missed
    the first attempt's row created a second job under a new name."""
    first = _submitter(ledger, sfn, platform).submit(_request(spec))
    monkeypatch.setattr(ledger, "find_by_execution", lambda arn: [])  # the index lags the write
    again = _submitter(ledger, sfn, platform).submit(_request(spec, retry=1, token="token-1"))
    assert again.job_name == first.job_name and again.adopted
    assert list(aws.jobs) == [first.job_name]
    row = ledger.get(first.job_name)
    assert row is not None and row.task_token == "token-1"


def test_a_redrive_after_an_abort_trains_again_instead_of_answering_with_the_stopped_job(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """Issue 26, risks: RedriveExecution of an aborted (or timed-out) execution reruns the Submit
    that was cut off, with $$.Execution.RedriveCount 1 and a new token (Step Functions API
    reference, RedriveExecution: it "continues the failed execution from the unsuccessful step").
    Submit adopted the earlier attempt's row, whose job the abort had stopped, and answered the
    new token with that Stopped job: the redrive never trained. moto has no RedriveExecution, so
    the redriven task is played here as the state machine would hand it over."""
    from dtrain.orchestration.events import handle_execution_end

    first = _submitter(ledger, sfn, platform).submit(_request(spec, token="token-0"))
    ended = {"detail-type": "Step Functions Execution Status Change", "detail": {"executionArn": EXEC}}
    assert handle_execution_end(
        {**ended, "detail": {**ended["detail"], "status": "ABORTED"}},
        ledger=ledger,
        sagemaker=sagemaker_client("us-east-1"),
    ) == [first.job_name]
    assert aws.job(first.job_name).status in ("Stopping", "Stopped")
    sfn.execution_status[EXEC] = "RUNNING"  # redriven: the same execution ARN runs again

    redriven = SubmitRequest(
        spec=spec, task_token="token-r1", execution_arn=EXEC, execution_name="run-1", redrive_count=1
    )
    again = _submitter(ledger, sfn, platform).submit(redriven)
    assert not again.adopted and not again.answered_now and again.job_name != first.job_name
    assert sorted(aws.jobs) == sorted([first.job_name, again.job_name])
    assert sfn.calls == []  # the new token waits on the new job, not on the stopped one
    row = ledger.get(again.job_name)
    assert row is not None and row.is_open and row.task_token == "token-r1" and row.redrive_count == 1
    # A Retry within the redrive adopts the redrive's own job.
    retried = SubmitRequest(
        spec=spec,
        task_token="token-r1b",
        execution_arn=EXEC,
        execution_name="run-1",
        retry_count=1,
        redrive_count=1,
    )
    assert _submitter(ledger, sfn, platform).submit(retried).job_name == again.job_name
    assert len(aws.jobs) == 2


def test_the_accounts_concurrent_training_instances_hold_the_next_execution_until_a_job_ends(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    """Issue 26: what bounds how many training jobs run at once is the account's quota
    'Number of instances across all training jobs' (SageMaker has no count of concurrent jobs).
    Through the emulator's own quota gate, not a forced fault: with room for one 2-instance job,
    a second execution's Submit waits for capacity (CapacityWait, retried by the state machine)
    instead of failing, and its retry creates the job once the first has ended."""
    from dtrain.emulator.lifecycle.quotas import ALL_TRAINING
    from dtrain.orchestration.errors import CapacityWait

    aws.quotas.set(ALL_TRAINING, 2)  # the spec's job takes 2 instances (of another type's quota too)
    first = _submitter(ledger, sfn, platform).submit(_request(spec))
    other = "arn:aws:states:us-east-1:123456789012:execution:sm:run-2"

    def second(retry: int) -> SubmitRequest:
        return SubmitRequest(
            spec=spec,
            task_token=f"t2-{retry}",
            execution_arn=other,
            execution_name="run-2",
            retry_count=retry,
        )

    with pytest.raises(CapacityWait, match="waiting for capacity"):
        _submitter(ledger, sfn, platform).submit(second(0))
    assert list(aws.jobs) == [first.job_name]
    assert aws.quotas.refused == [ALL_TRAINING]
    aws.complete(first.job_name)
    created = _submitter(ledger, sfn, platform).submit(second(1))
    assert list(aws.jobs) == [first.job_name, created.job_name]
    status = boto3.client("sagemaker", region_name="us-east-1").describe_training_job(
        TrainingJobName=created.job_name
    )["TrainingJobStatus"]
    assert status == "InProgress"


def test_submit_creates_the_experiment_its_spec_names_then_the_job(
    ledger: Ledger, sfn: Any, platform: Any, spec: dict[str, Any], aws: Any
) -> None:
    spec["experiment_config"] = {"ExperimentName": "cifar10-ddp", "RunName": "first"}
    result = _submitter(ledger, sfn, platform).submit(_request(spec))
    sm = boto3.client("sagemaker", region_name="us-east-1")
    assert sm.describe_experiment(ExperimentName="cifar10-ddp")["ExperimentName"] == "cifar10-ddp"
    job = sm.describe_training_job(TrainingJobName=result.job_name)
    assert job["ExperimentConfig"]["ExperimentName"] == "cifar10-ddp"
    # A retry of that Submit adopts the experiment and the job.
    again = _submitter(ledger, sfn, platform).submit(_request(spec, retry=1, token="token-1"))
    assert again.job_name == result.job_name and again.adopted
