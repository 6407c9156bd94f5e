"""Per-team quotas (issue 29): a team's jobs past its `quota_instances` wait for capacity (Submit
raises CapacityWait, which the state machine retries), never because another team is busy, and
the capacity goes back when a job ends, whichever Lambda records the end.

Against moto's DynamoDB and the emulator's SageMaker (tests/lambda/conftest.py); the count is one
item of the ledger table per team (dtrain.orchestration.team_capacity).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dtrain.emulator import dynamodb_writes
from dtrain.emulator.class_patches import class_patches
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.team_limits import TeamLimits
from dtrain.orchestration.backoff import BackoffPolicy
from dtrain.orchestration.errors import CapacityWait, QuotaTooSmall
from dtrain.orchestration.events import handle_job_event, reconcile
from dtrain.orchestration.ledger import Ledger
from dtrain.orchestration.submit import SubmitRequest, Submitter, sagemaker_client
from dtrain.orchestration.team_capacity import TeamCapacity, capacity_key

from .conftest import PLATFORM


def _team(name: str, quota: int | None) -> PlatformSettings:
    """A team's settings as for_team gives them: its prefix, its limits."""
    base = PlatformSettings.from_dict(PLATFORM)
    return dataclasses.replace(
        base, team=name, job_name_prefix=f"dtrain-{name}", guardrails=TeamLimits(quota_instances=quota)
    )


def _submitter(ledger: Ledger, sfn: Any, platform: PlatformSettings) -> Submitter:
    return Submitter(
        ledger=ledger,
        sagemaker=sagemaker_client("us-east-1"),
        sfn=sfn,
        platform=platform,
        region="us-east-1",
        backoff=BackoffPolicy(attempts=2, base_s=0.01, cap_s=0.01),
    )


def _request(spec: dict[str, Any], execution: str, team: str = "vision", token: str = "t") -> SubmitRequest:
    arn = f"arn:aws:states:us-east-1:123456789012:execution:dtrain-{team}:{execution}"
    return SubmitRequest(spec=spec, task_token=token, execution_arn=arn, execution_name=execution)


def _event(job: str, status: str) -> dict[str, Any]:
    detail = {"TrainingJobName": job, "TrainingJobStatus": status, "TrainingJobArn": f"arn:{job}"}
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Training Job State Change", "detail": detail}


def _held(ledger: Ledger, team: str) -> int:
    return sum(
        TeamCapacity(ledger.client, ledger.table_name, capacity_key(f"dtrain-{team}"), 0).holders().values()
    )


def test_a_job_past_the_teams_quota_waits_until_an_earlier_one_ends(
    ledger: Ledger, sfn: Any, spec: dict[str, Any], aws: Any
) -> None:
    """Quota 4, jobs of 2: the third waits (no job created) and is created once the first ends."""
    vision = _submitter(ledger, sfn, _team("vision", 4))
    first = vision.submit(_request(spec, "run-1")).job_name
    vision.submit(_request(spec, "run-2"))
    with pytest.raises(
        CapacityWait, match="team vision's capacity: its running jobs hold 4 of its 4 instances"
    ):
        vision.submit(_request(spec, "run-3"))
    assert len(aws.jobs) == 2 and _held(ledger, "vision") == 4
    aws.complete(first)
    assert handle_job_event(_event(first, "Completed"), ledger=ledger, sfn=sfn) == "answered"
    assert _held(ledger, "vision") == 2  # the event's Lambda gave the first job's instances back
    third = vision.submit(_request(spec, "run-3", token="t-retry"))  # the state machine's retry
    assert len(aws.jobs) == 3 and third.job_name.startswith("dtrain-vision-")
    assert _held(ledger, "vision") == 4


def test_another_team_never_waits_for_a_busy_team(
    ledger: Ledger, sfn: Any, spec: dict[str, Any], aws: Any
) -> None:
    vision = _submitter(ledger, sfn, _team("vision", 2))
    vision.submit(_request(spec, "run-1"))
    with pytest.raises(CapacityWait):
        vision.submit(_request(spec, "run-2"))
    nlp = _submitter(ledger, sfn, _team("nlp", 2))
    assert nlp.submit(_request(spec, "run-1", team="nlp")).job_name.startswith("dtrain-nlp-")
    assert (_held(ledger, "vision"), _held(ledger, "nlp")) == (2, 2)


@pytest.fixture
def atomic_item_writes() -> Iterator[None]:
    """DynamoDB applies a conditional write atomically; moto 5 does not (this test failed once in
    a 703-test Lambda-suite run): the emulator's own lock around moto's writes
    (dtrain.emulator.dynamodb_writes), as `dtrain emulate` runs with it."""
    with class_patches() as patch:
        dynamodb_writes.install(patch)
        yield


@pytest.mark.usefixtures("atomic_item_writes")
def test_concurrent_submits_never_hold_more_than_the_quota(
    ledger: Ledger, sfn: Any, spec: dict[str, Any], aws: Any
) -> None:
    """A sweep's Map starts its items within milliseconds: one conditional write per hold keeps
    them under the quota together (a read-then-write count would let them all through)."""
    quota = _team("vision", 4)
    one = copy.deepcopy(spec)
    one["estimator"]["instance_count"] = 1
    outcomes: list[str] = []

    def submit(i: int) -> None:
        try:
            _submitter(ledger, sfn, quota).submit(_request(one, f"item-{i}"))
            outcomes.append("created")
        except CapacityWait:
            outcomes.append("waits")

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] * 4 + ["waits"] * 6
    assert len(aws.jobs) == 4 and _held(ledger, "vision") == 4


def test_a_retried_submit_holds_once_and_a_refused_create_gives_its_hold_back(
    ledger: Ledger, sfn: Any, spec: dict[str, Any], aws: Any
) -> None:
    from dtrain.emulator.service_behaviour import ServiceBehaviour, installed

    vision = _submitter(ledger, sfn, _team("vision", 4))
    with installed(ServiceBehaviour()) as behaviour:
        behaviour.fail_sagemaker("CreateTrainingJob", code="ResourceLimitExceeded", status=400, times=1)
        with pytest.raises(CapacityWait, match="waiting for capacity"):  # the account's quota
            vision.submit(_request(spec, "run-1"))
    assert _held(ledger, "vision") == 0 and not aws.jobs
    vision.submit(_request(spec, "run-1", token="t2"))
    vision.submit(_request(spec, "run-1", token="t3"))  # a retry adopts: no second hold
    assert _held(ledger, "vision") == 2 and len(aws.jobs) == 1


def test_reconcile_gives_back_the_hold_of_a_job_whose_event_was_lost(
    ledger: Ledger, sfn: Any, spec: dict[str, Any], aws: Any
) -> None:
    vision = _submitter(ledger, sfn, _team("vision", 2))
    job = vision.submit(_request(spec, "run-1")).job_name
    aws.complete(job, emit=False)
    report = reconcile(ledger=ledger, sagemaker=boto3.client("sagemaker", region_name="us-east-1"), sfn=sfn)
    assert report.answered == [job] and _held(ledger, "vision") == 0


def test_a_job_larger_than_the_whole_quota_fails_at_once(
    ledger: Ledger, sfn: Any, spec: dict[str, Any]
) -> None:
    with pytest.raises(QuotaTooSmall, match="needs 2 instances; team vision's quota is 1"):
        _submitter(ledger, sfn, _team("vision", 1)).submit(_request(spec, "run-1"))


def test_a_team_without_a_quota_holds_nothing_and_the_ledger_lists_no_count(
    ledger: Ledger, sfn: Any, spec: dict[str, Any], aws: Any
) -> None:
    _submitter(ledger, sfn, _team("nlp", None)).submit(_request(spec, "run-1", team="nlp"))
    _submitter(ledger, sfn, _team("vision", 4)).submit(_request(spec, "run-1"))
    rows = ledger.list_recent()
    assert len(rows) == 2 and all("#" not in r.job_name for r in rows)
    assert _held(ledger, "nlp") == 0


def test_a_lost_release_is_reclaimed_when_the_team_is_full(
    ledger: Ledger, sfn: Any, spec: dict[str, Any], aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release after a job's end failed (here: the count's write throws once): the hold would
    shrink the team's quota for good. The next Submit that finds the team full gives back holds
    whose rows say the job cannot run any more, then holds."""
    import dtrain.orchestration.ledger as ledger_module

    vision = _submitter(ledger, sfn, _team("vision", 2))
    first = vision.submit(_request(spec, "run-1")).job_name

    def lost(*args: Any) -> bool:
        raise RuntimeError("throttled")

    monkeypatch.setattr(ledger_module, "release", lost)
    aws.complete(first)
    with pytest.raises(RuntimeError):
        handle_job_event(_event(first, "Completed"), ledger=ledger, sfn=sfn)
    monkeypatch.undo()
    row = ledger.get(first)
    assert row is not None and row.status == "Completed" and _held(ledger, "vision") == 2  # lost
    assert vision.submit(_request(spec, "run-2")).job_name != first
    assert _held(ledger, "vision") == 2 and len(aws.jobs) == 2
