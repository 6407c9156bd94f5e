"""A platform team's upgrade sequence, rehearsed in the emulator (issue 30): the platform is
deployed, then changed as a team changes it (a tag on every resource, a configuration value
the jobs see, a new version of a Lambda's code), each change deployed as `cdk deploy` deploys it
(an UPDATE change set: dtrain.emulator.upgrade_steps), and a job runs to SUCCEEDED after each.

Not yet a step: a new team. TeamConfig is read from cdk.json, but the orchestration deploys no
per-team resources yet (issue 29's per-team stacks are landing separately). Slower than most
e2e tests (about 10 s: three stack updates of the 49-resource orchestration stack and four
executions); it shares the session's stand-in synth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator import upgrade_steps as steps
from dtrain.emulator.fixtures import standin_emulator

STACK = "DtrainOrchestration"


@pytest.fixture(scope="module")
def platform(standin_assembly: Path) -> Iterator[Emulator]:
    with standin_emulator(standin_assembly) as emu:
        yield emu


def _run_job(emu: Emulator, spec: dict[str, Any]) -> str:
    """One job through the platform: its training job's name once the execution SUCCEEDED."""
    arn = emu.start_execution(spec)
    job = emu.jobs_of(arn)[0]
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
    desc = emu.wait_execution(arn, timeout=120)
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    return job


def _job_tags(emu: Emulator, job: str) -> dict[str, str]:
    sm = emu.client("sagemaker")
    arn = sm.describe_training_job(TrainingJobName=job)["TrainingJobArn"]
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def _submit_function(emu: Emulator) -> dict[str, Any]:
    functions = emu.client("lambda").list_functions()["Functions"]
    return next(f for f in functions if f["FunctionName"].startswith(f"{STACK}-SubmitJob"))


def _groups_that_logged(emu: Emulator, text: str) -> list[str]:
    logs = emu.client("logs")
    return [
        group["logGroupName"]
        for group in logs.describe_log_groups()["logGroups"]
        if any(
            text in e["message"] for e in logs.filter_log_events(logGroupName=group["logGroupName"])["events"]
        )
    ]


def test_each_upgrade_deploys_in_place_and_the_next_job_succeeds(
    platform: Emulator, standin_assembly: Path, make_spec: Any
) -> None:
    emu = platform
    cfn = emu.client("cloudformation")
    _run_job(emu, make_spec())
    machine, ledger = emu.state_machine_arn, emu.output("LedgerTableName")

    # 1. A tag on every resource: all updated in place (same state machine, same ledger).
    steps.deploy_update(
        cfn, STACK, steps.tag_every_resource(steps.current_template(cfn, STACK), "cc", "ml-42")
    )
    function = _submit_function(emu)
    assert emu.client("lambda").list_tags(Resource=function["FunctionArn"])["Tags"]["cc"] == "ml-42"
    assert (emu.state_machine_arn, emu.output("LedgerTableName")) == (machine, ledger)
    _run_job(emu, make_spec())

    # 2. A configuration value: the tags every job gets (OrchestrationOptions.tags).
    template = steps.set_job_tags(steps.current_template(cfn, STACK), {"owner": "platform-team"})
    steps.deploy_update(cfn, STACK, template)
    assert _job_tags(emu, _run_job(emu, make_spec()))["owner"] == "platform-team"

    # 3. A new version of Submit's code, published where `cdk deploy` puts assets.
    code = steps.submit_code_with_marker(standin_assembly, template, "submit: upgraded to v2")
    emu.client("s3").create_bucket(Bucket="upgrade-assets")
    emu.client("s3").put_object(Bucket="upgrade-assets", Key="submit-v2.zip", Body=code)
    steps.deploy_update(cfn, STACK, steps.with_submit_code(template, "upgrade-assets", "submit-v2.zip"))
    upgraded = _submit_function(emu)
    assert upgraded["CodeSha256"] != function["CodeSha256"]
    assert upgraded["FunctionArn"] == function["FunctionArn"]  # the same function, new code
    _run_job(emu, make_spec())
    (group,) = _groups_that_logged(emu, "submit: upgraded to v2")  # the new code ran, in Submit
    assert "SubmitJob" in group
