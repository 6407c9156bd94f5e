"""The CLI on a platform with teams (issue 29): the team comes from --team, DTRAIN_TEAM or the
caller's IAM name; submit, status and stop use the team's state machine and settings, and
dtrain list shows the team's executions only.

A moto stack with the outputs a platform with teams writes (dtrain.team_names.output_id: one
state machine per team) and base settings naming the teams and vision's guardrails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from dtrain.remote.errors import UsageError
from dtrain.remote.team_choice import choose_team, name_of_caller
from dtrain.team_names import output_id

from .conftest import (
    BUCKET,
    PLATFORM_SETTINGS,
    REGION,
    TABLE,
    WAITING_DEFINITION,
    Cli,
    FakePlatform,
    create_ledger_table,
    stack_template,
)

STACK = "TeamsOrchestration"
TEAMS = ("nlp", "vision")
SETTINGS = {
    **PLATFORM_SETTINGS,
    "teams": list(TEAMS),
    "team_guardrails": {"vision": {"instance_types": ["ml.g5.12xlarge"], "max_instance_count": 4}},
}


@pytest.fixture(scope="module")
def machines(aws_env: None) -> Iterator[dict[str, str]]:
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        create_ledger_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arns = {
            team: str(
                sfn.create_state_machine(
                    name=f"dtrain-{team}",
                    definition=json.dumps(WAITING_DEFINITION),
                    roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/dtrain-states",
                )["stateMachineArn"]
            )
            for team in TEAMS
        }
        outputs = {
            "LedgerTableName": TABLE,
            "ArtifactsBucketName": BUCKET,
            # A platform with teams still writes the output the CLI requires (the first team's).
            "StateMachineArn": arns["nlp"],
            "PlatformSettings": json.dumps(SETTINGS),
            **{output_id(team, "StateMachineArn"): arn for team, arn in arns.items()},
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=STACK, TemplateBody=stack_template(outputs)
        )
        yield arns


def _spec(tmp_path: Path, name: str, **estimator: Any) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(FakePlatform.spec(name, **estimator)))
    return str(path)


def test_submit_starts_the_teams_state_machine_and_list_shows_the_team_only(
    machines: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    vision = cli.json("submit", _spec(tmp_path, "vision-job-1"), "--stack", STACK, "--team", "vision")
    assert vision["execution_arn"].startswith(machines["vision"].replace(":stateMachine:", ":execution:"))
    nlp = cli.json("submit", _spec(tmp_path, "nlp-job-1"), "--stack", STACK, "--team", "nlp")
    assert ":execution:dtrain-nlp:" in nlp["execution_arn"]
    listed = cli.json("list", "--stack", STACK, "--team", "vision")
    assert [(r["execution_name"], r["team"]) for r in listed] == [(vision["execution_name"], "vision")]
    assert [r["execution_name"] for r in cli.json("list", "--stack", STACK, "--team", "nlp")] == [
        nlp["execution_name"]
    ]


def test_status_and_stop_reach_only_the_teams_own_executions(
    machines: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    started = cli.json("submit", _spec(tmp_path, "vision-job-2"), "--stack", STACK, "--team", "vision")
    name = started["execution_name"]
    code, _, err = cli.run("status", name, "--stack", STACK, "--team", "nlp")
    assert code == 1 and "no job or execution" in err  # nlp's state machine has no such execution
    assert cli.json("status", name, "--stack", STACK, "--team", "vision")["execution"]["status"] == "RUNNING"
    code, _, err = cli.run("stop", name, "--stack", STACK, "--team", "vision")
    assert code == 0, err
    status = boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=started["execution_arn"]
    )
    assert status["status"] == "ABORTED"


def test_submit_uploads_the_source_under_the_teams_prefix(
    machines: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text("print('hi')\n")
    spec = FakePlatform.spec("vision-job-3", entry_point="train.py", source_dir="code", image_uri="ddp")
    path = tmp_path / "with-code.json"
    path.write_text(json.dumps(spec))
    report = cli.json("submit", str(path), "--stack", STACK, "--team", "vision")
    assert report["source_dir"].startswith(f"s3://{BUCKET}/teams/vision/")
    key = report["source_dir"].split(f"s3://{BUCKET}/", 1)[1]
    boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key=key)


def test_submit_refuses_a_spec_past_the_teams_guardrails(
    machines: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    code, _, err = cli.run(
        "submit", _spec(tmp_path, "too-big", instance_count=16), "--stack", STACK, "--team", "vision"
    )
    assert code == 2 and "teams.vision.max_instance_count" in err
    # nlp has no guardrails: the same spec is submitted.
    code, _, err = cli.run(
        "submit", _spec(tmp_path, "big-ok", instance_count=16), "--stack", STACK, "--team", "nlp"
    )
    assert code == 0, err


def test_without_a_team_the_cli_names_the_teams_and_the_flag(
    machines: dict[str, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli.run("list", "--stack", STACK)
    assert code == 2
    assert "this platform has teams (nlp, vision)" in err and "--team" in err
    monkeypatch.setenv("DTRAIN_TEAM", "nlp")
    assert cli.run("list", "--stack", STACK, "--json")[0] == 0
    code, _, err = cli.run("list", "--stack", STACK, "--team", "robotics")
    assert code == 2 and "not a team of this platform (teams: nlp, vision)" in err


@pytest.mark.parametrize(
    ("caller", "team"),
    [
        ("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DtrainVision_0123abcd/alice", "vision"),
        ("arn:aws:sts::123456789012:assumed-role/dtrain-nlp-scientists/bob", "nlp"),
        ("arn:aws:iam::123456789012:user/research/vision.carol", "vision"),
    ],
)
def test_the_team_comes_from_the_callers_role_or_user_name(caller: str, team: str) -> None:
    assert choose_team(None, TEAMS, caller) == team


def test_an_identity_naming_no_team_or_two_is_not_guessed() -> None:
    assert name_of_caller("arn:aws:sts::123456789012:assumed-role/Admin/dave") == "Admin"
    with pytest.raises(UsageError, match=r"your identity \(Admin\) names none"):
        choose_team(None, TEAMS, "arn:aws:sts::123456789012:assumed-role/Admin/dave")
    with pytest.raises(UsageError, match="names nlp and vision"):
        choose_team(None, TEAMS, "arn:aws:sts::123456789012:assumed-role/nlp-vision-shared/erin")
    # A platform without teams: nothing to choose, and --team is refused.
    assert choose_team(None, (), None) is None
    with pytest.raises(UsageError, match="this platform has no teams"):
        choose_team("vision", (), None)
