"""A platform team's upgrade sequence, rehearsed in the emulator (issue 30): the platform is
deployed, then changed as a team changes it (a tag on every resource, a configuration value
the jobs see, a new version of a Lambda's code, a new team, an instance-type allow-list on that
team), each change deployed as `cdk deploy` deploys it (an UPDATE change set per stack:
dtrain.emulator.upgrade_steps), and a job runs after each (SUCCEEDED; after the allow-list, one
outside it is refused by Submit's Prepare).

Slower than most e2e tests (about 18 s at load ~5: five updates of the 49-resource orchestration
stack and eight executions). Steps 4 and 5 deploy a fresh synth of the stand-in app with the team
(the templates differ in many resources: a role, a state machine, a policy, outputs), which comes
from the synth cache after the first run (a cold synth adds 20-40 s per variant); it shares the
session's stand-in synth."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator import upgrade_steps as steps
from dtrain.emulator.apps import STANDIN_DATA_BUCKET, synth_standin_app
from dtrain.emulator.fixtures import standin_emulator
from dtrain.team_names import output_id

STACK = "DtrainOrchestration"


@pytest.fixture(scope="module")
def platform(standin_assembly: Path) -> Iterator[Emulator]:
    with standin_emulator(standin_assembly) as emu:
        yield emu


def _start(emu: Emulator, spec: dict[str, Any], machine: str | None) -> str:
    if machine is None:
        return emu.start_execution(spec)
    sfn = emu.client("stepfunctions")
    name = f"run-{uuid.uuid4().hex[:12]}"
    out = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(spec))
    return str(out["executionArn"])


def _run_job(emu: Emulator, spec: dict[str, Any], machine: str | None = None) -> str:
    """One job through the platform (`machine`: a team's state machine): its training job's name
    once the execution SUCCEEDED."""
    arn = _start(emu, spec, machine)
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
    platform: Emulator, standin_assembly: Path, make_spec: Any, tmp_path: Path
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

    # 4. A new team: the app synthesized again with teams={"vision": {}} and deployed as
    # `cdk deploy --all` deploys it (the base stack gains the team's execution role and its
    # export, the orchestration stack the team's state machine, policy and outputs; the
    # platform's own state machine, which served the implicit team, is removed).
    team_app = synth_standin_app(tmp_path / "team" / "cdk.out", teams={"vision": {}})
    steps.deploy_assembly_update(emu.session, team_app, account=emu.account, region=emu.region)
    outputs = steps.stack_outputs(cfn, STACK)
    vision = outputs[output_id("vision", "StateMachineArn")]
    assert vision.endswith(":stateMachine:dtrain-vision")
    assert outputs["LedgerTableName"] == ledger  # the ledger is kept
    spec = make_spec()
    spec["inputs"] = {"train": f"s3://{STANDIN_DATA_BUCKET}/teams/vision/cifar10/train"}
    assert _run_job(emu, spec, vision).startswith("dtrain-vision-")

    # 5. An instance-type allow-list on the team: a job within it succeeds, one outside is
    # refused by Submit's Prepare (the team's guardrails in its platform settings).
    allowed = {"vision": {"instance_types": ["ml.g5.12xlarge"]}}
    listed_app = synth_standin_app(tmp_path / "listed" / "cdk.out", teams=allowed)
    steps.deploy_assembly_update(emu.session, listed_app, account=emu.account, region=emu.region)
    assert steps.stack_outputs(cfn, STACK)[output_id("vision", "StateMachineArn")] == vision
    _run_job(emu, spec, vision)
    outside = {**spec, "estimator": {**spec["estimator"], "instance_type": "ml.p5.48xlarge"}}
    desc = emu.wait_execution(_start(emu, outside, vision), timeout=120)
    assert desc["status"] == "FAILED"
    assert "team vision may use only ml.g5.12xlarge" in desc["cause"], desc["cause"]
