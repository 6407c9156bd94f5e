"""A team's names and settings (dtrain.team_names, PlatformSettings.for_team)."""

from __future__ import annotations

import pytest

from dtrain import team_names
from dtrain.config import TeamConfig
from dtrain.jobspec.errors import SpecError
from dtrain.jobspec.platform import PlatformSettings

BASE = PlatformSettings(
    region="us-east-1",
    role_arn="arn:aws:iam::123456789012:role/dtrain-nlp-execution",
    output_s3_uri="s3://artifacts/jobs",
    checkpoint_s3_uri="s3://checkpoints/jobs",
    data_s3_uri="s3://data",
    teams=("nlp", "vision"),
)


def test_a_teams_names_nest_under_the_platform_prefix_and_the_implicit_team_keeps_todays():
    assert team_names.resource_prefix("Dtrain", "vision") == "dtrain-vision"
    assert team_names.resource_prefix("Dtrain", None) == "dtrain"
    assert team_names.state_machine_name("dtrain", "vision") == "dtrain-vision"
    assert team_names.execution_role_name("dtrain", "vision") == "dtrain-vision-execution"
    assert team_names.scientists_policy_name("dtrain", "vision") == "dtrain-vision-scientists"
    assert team_names.s3_prefix("vision") == "teams/vision/" and team_names.s3_prefix(None) == ""
    assert team_names.jobs_prefix("vision") == "teams/vision/jobs" and team_names.jobs_prefix(None) == "jobs"
    assert team_names.output_id("vision", "StateMachineArn") == "TeamVisionStateMachineArn"
    assert team_names.team_of_state_machine("dtrain", "dtrain-vision") == "vision"
    assert team_names.team_of_state_machine("dtrain", "other-vision") is None
    # TeamConfig agrees with the module it calls.
    assert TeamConfig("vision").resource_prefix("Dtrain") == "dtrain-vision"
    assert TeamConfig.default().resource_prefix("Dtrain") == "dtrain"


def test_for_team_gives_the_teams_role_prefixes_and_job_names():
    vision = BASE.for_team("vision")
    assert vision.role_arn == "arn:aws:iam::123456789012:role/dtrain-vision-execution"
    assert vision.output_s3_uri == "s3://artifacts/teams/vision/jobs"
    assert vision.checkpoint_s3_uri == "s3://checkpoints/teams/vision/jobs"
    assert vision.data_s3_uri == "s3://data/teams/vision"
    assert (vision.job_name_prefix, vision.team, vision.team_scoped) == ("dtrain-vision", "vision", True)
    assert vision.source_key_prefix == "teams/vision/" and BASE.source_key_prefix == ""
    assert PlatformSettings.from_dict(vision.to_dict()) == vision


def test_for_team_refuses_a_team_the_platform_lacks_and_a_second_scoping():
    with pytest.raises(SpecError, match="is not a team of this platform"):
        BASE.for_team("audio")
    with pytest.raises(SpecError, match="already"):
        BASE.for_team("vision").for_team("vision")
