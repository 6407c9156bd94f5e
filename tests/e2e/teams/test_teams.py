"""Two teams on one platform (issue 29): the app synthesized with teams vision and nlp, deployed
into the emulator with IAM enforced. Each team runs its own job side by side, and a matrix of
cross-team actions is denied by the policy engine (AccessDenied from the deployed policies, not
a check of ours) while the same action on the team's own resource is allowed.

Slow on purpose, and shared: one synth of the whole app with two teams (~20 s on 2 busy cores,
cached afterwards) and one deploy (~6 s) serve every test of this package (conftest.py, with
test_team_guardrails_e2e.py); the module's own set-up is a waiting execution per team, stopped
when the module ends. The matrix is one table (team_matrix.py, which
benchmarks/team_isolation.py prints as the closing note's figure).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator.authz.authorizer import AccessDenied
from dtrain.team_names import output_id
from tests.e2e.teams.team_matrix import (
    UNCAUGHT_REASONS,
    TeamPlatform,
    matrix_rows,
    mutation_table,
    run_row,
)
from tests.e2e.teams.team_platform import TEAM_SETTINGS, TEAMS, XDIST_GROUP

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(XDIST_GROUP)]


@pytest.fixture(scope="module")
def teams_platform(team_platform_emulator: Emulator) -> Iterator[TeamPlatform]:
    platform = TeamPlatform.of(team_platform_emulator)
    yield platform
    platform.stop_waiting()  # the deployment outlives this module (conftest.py)


def test_the_templates_give_each_team_its_own_role_state_machine_and_policy(
    teams_platform: TeamPlatform,
) -> None:
    p = teams_platform
    for team in TEAMS:
        assert p.state_machine_arn(team).endswith(f":stateMachine:dtrain-{team}")
        assert p.role_arn(team).endswith(f":role/dtrain-{team}-execution")
        policy = p.policy_document(team)
        text = json.dumps(policy)
        # No ledger statement: task tokens are out of every team scientist's reach.
        assert "dynamodb:" not in text
        other = next(t for t in TEAMS if t != team)
        assert f"dtrain-{other}" not in text and f"teams/{other}/" not in text
    settings = json.loads(p.emu.output("PlatformSettings"))
    assert settings["teams"] == sorted(TEAMS)
    # Each team's failed executions alarm (nlp, the first, through the platform's alarm).
    template = json.loads((p.assembly / "DtrainOrchestration.template.json").read_text())
    alarms = {
        r["Properties"]["AlarmName"]: r["Properties"]["Dimensions"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "ExecutionsFailed"
    }
    assert set(alarms) == {
        "DtrainOrchestration-ExecutionsFailed",
        "DtrainOrchestration-TeamVisionExecutionsFailed",
    }
    # Without teams the app's outputs are today's; with teams each team has its own.
    assert p.emu.output(output_id("vision", "SubmitterPolicyArn")).endswith("policy/dtrain-vision-scientists")


def test_each_team_runs_its_own_job_under_its_own_names(teams_platform: TeamPlatform, make_spec: Any) -> None:
    p = teams_platform
    runs = {}
    for team in TEAMS:
        spec = make_spec()
        spec["inputs"] = {"train": f"s3://{p.data_bucket}/teams/{team}/cifar10/train"}
        runs[team] = p.emu.client("stepfunctions").start_execution(
            stateMachineArn=p.state_machine_arn(team), name=f"run-{team}", input=json.dumps(spec)
        )["executionArn"]
    for team, arn in runs.items():
        (job,) = p.emu.jobs_of(arn)
        assert job.startswith(f"dtrain-{team}-")
        request = p.emu.sagemaker.jobs[job].request
        assert request["RoleArn"] == p.role_arn(team)
        assert request["OutputDataConfig"]["S3OutputPath"].startswith(
            f"s3://{p.artifacts_bucket}/teams/{team}/jobs"
        )
        p.emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
        desc = p.emu.wait_execution(arn)
        assert desc["status"] == "SUCCEEDED", (team, desc.get("error"), desc.get("cause"))


def test_a_spec_naming_another_team_s_data_is_refused_by_submit_in_one_line(
    teams_platform: TeamPlatform, make_spec: Any
) -> None:
    p = teams_platform
    spec = make_spec()
    spec["inputs"] = {"train": f"s3://{p.data_bucket}/teams/nlp/cifar10/train"}
    arn = p.emu.client("stepfunctions").start_execution(
        stateMachineArn=p.state_machine_arn("vision"), name="vision-reads-nlp", input=json.dumps(spec)
    )["executionArn"]
    desc = p.emu.wait_execution(arn)
    assert desc["status"] == "FAILED"
    assert "inputs.train" in desc["cause"] and "names team nlp's data" in desc["cause"], desc["cause"]


@pytest.mark.parametrize("row", matrix_rows(), ids=lambda row: row.id)
def test_cross_team_action_is_denied_by_policy_and_the_own_team_s_is_allowed(
    teams_platform: TeamPlatform, row: Any
) -> None:
    own, cross = run_row(teams_platform, row)
    assert own.got == row.expected_own, own
    assert cross.got == "AccessDenied", cross
    assert cross.code in ("AccessDenied", "AccessDeniedException"), cross


def test_every_team_statement_s_removal_and_widening_is_caught_by_the_matrix_or_justified(
    teams_platform: TeamPlatform,
) -> None:
    """The mutation table for the team statements: each statement of vision's scientists' policy
    and each team-scoped statement of its execution role, removed (an own-team row must turn
    AccessDenied) and widened to every team (a cross-team row must turn allowed)."""
    table = mutation_table(teams_platform)
    assert {m.holder for m in table} == {
        "scientists' policy",
        "execution role",
        "Submit role",
        "state machine role",
    }
    missed = [
        (m.holder, m.sid, "removed" if not m.removed_caught_by else "widened")
        for m in table
        if m.sid not in UNCAUGHT_REASONS
        and not m.guard
        and (not m.removed_caught_by or (m.team_scoped and not m.widened_caught_by))
    ]
    assert not missed, missed
    # The team's Submit role's statements are in the table, each caught (issue 29: no shared role).
    submit = [m for m in table if m.holder == "Submit role"]
    assert any("submit-UpdateEndpoint" in m.widened_caught_by for m in submit), submit
    # The state machine's invoke of its own Submit, widened to every team's Submit: caught.
    invoke = [m for m in table if m.holder == "state machine role"]
    assert [m.widened_caught_by for m in invoke] == [("state-machine-invokes-submit",)], invoke


def _create_training_job(team: str, instance_type: str, role_arn: str) -> dict[str, Any]:
    return {
        "TrainingJobName": f"dtrain-{team}-guard",
        "RoleArn": role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": "x.dkr.ecr.us-east-1.amazonaws.com/i:1",
            "TrainingInputMode": "File",
        },
        "OutputDataConfig": {"S3OutputPath": f"s3://out/teams/{team}/jobs"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def test_a_team_s_instance_type_allow_list_is_held_by_policy_for_its_jobs_only(
    teams_platform: TeamPlatform,
) -> None:
    """Each team's Submit role creates its team's jobs; the TeamGuardrails policy's Deny on
    sagemaker:InstanceTypes holds vision's jobs to vision's list and leaves nlp's alone."""
    p = teams_platform
    assert p.emu.authz is not None
    settings = json.loads(p.emu.output("PlatformSettings"))
    assert settings["team_guardrails"] == {"vision": TEAM_SETTINGS["vision"]}

    def create(team: str, instance_type: str) -> None:
        params = _create_training_job(team, instance_type, p.role_arn(team))
        p.emu.authz.authorize_call(
            p.submit_role(team), "sagemaker", "CreateTrainingJob", params, p.emu.region
        )  # type: ignore[union-attr]

    create("vision", "ml.g5.12xlarge")
    create("nlp", "ml.p5.48xlarge")
    with pytest.raises(AccessDenied, match="explicit deny"):
        create("vision", "ml.p5.48xlarge")


def test_the_cli_runs_for_a_scientist_holding_only_the_team_s_policy(
    teams_platform: TeamPlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dtrain submit | status | list [--experiment] | stop --team vision` as a vision scientist
    whose only policy is vision's deployed one (no ledger access): nothing the CLI calls is
    refused, the source goes under teams/vision/, and the list shows vision's executions only."""
    from dtrain.cli import main
    from dtrain.emulator.authz.hook import acting_as

    def cli(*argv: str) -> Any:
        capsys.readouterr()
        code = main([*argv, "--team", "vision", "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    p = teams_platform
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text("print('train')\n")
    spec = {
        "framework": "pytorch",
        "job_name": "cli-vision",
        "estimator": {
            "entry_point": "train.py",
            "source_dir": "code",
            "image_uri": "ddp",
            "instance_type": "ml.g5.12xlarge",
            "instance_count": 1,
            "max_run": 3600,
        },
        "inputs": {"train": f"s3://{p.data_bucket}/teams/vision/cifar10/train"},
        "experiment_config": {"ExperimentName": "vision-exp", "RunName": "run-1"},
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert p.emu.authz is not None
    p.emu.authz.refusals.clear()
    scientist = p.scientist("vision")
    with acting_as(scientist):
        submitted = cli("submit", str(path))
    assert ":execution:dtrain-vision:" in submitted["execution_arn"]
    (job,) = p.emu.jobs_of(submitted["execution_arn"])  # the test's own read of the ledger
    request = p.emu.sagemaker.jobs[job].request
    assert f"s3://{p.artifacts_bucket}/teams/vision/" in json.dumps(request["HyperParameters"])
    with acting_as(scientist):
        status = cli("status", "cli-vision")
        assert [j["name"] for j in status["jobs"]] == [job]
        listed = json.dumps(cli("list"))
        assert "cli-vision" in listed and "waiting-nlp" not in listed
        # The experiment's runs from the team's executions' histories (it read the ledger, which
        # the team's policy refuses: --experiment was refused on a platform with teams).
        (run,) = cli("list", "--experiment", "vision-exp")
        assert (run["job_name"], run["run_name"]) == (job, "run-1")
        assert cli("list", "--experiment", "other-exp") == []
        cli("stop", "cli-vision")
    # What the scientist was refused: the ledger only (the CLI tries it, then reads the history).
    refused = {r.action for r in p.emu.authz.refusals if "vision-scientist" in r.principal}
    assert refused <= {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"}, refused
