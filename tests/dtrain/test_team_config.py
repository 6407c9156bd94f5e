"""The team model (issue 29): teams read from cdk.json (an object, or flat `teams.<team>.<field>`
keys), from the construct's props, and the one implicit default team of a deploy without teams."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dtrain.config import (
    DEFAULT_TEAM,
    MAX_RUN_SECONDS_LIMIT,
    ConfigErrors,
    DtrainConfig,
    TeamConfig,
)

ROOT = Path(__file__).resolve().parents[2]


def context(**overrides: Any) -> dict[str, Any]:
    base = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    return {**base, **overrides}


def messages(overrides: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        DtrainConfig.from_context(context(**overrides))
    return [str(error) for error in caught.value.errors]


def test_no_teams_is_one_implicit_default_team_with_todays_names() -> None:
    config = DtrainConfig.from_context(context())
    assert not config.has_teams
    (team,) = config.teams
    assert team.name == DEFAULT_TEAM and team.implicit
    # Today's names: the bare job-name prefix and the bucket root.
    assert team.resource_prefix(config.job_name_prefix) == "dtrain"
    assert team.s3_prefix == ""
    assert team.instance_types == () and team.max_instance_count is None and not team.spot_required
    assert config.team(DEFAULT_TEAM) is team


def test_teams_object_gives_each_team_its_names_and_limits() -> None:
    config = DtrainConfig.from_context(
        context(
            stack_prefix="Ml",
            teams={
                "vision": {
                    "instance_types": ["ml.g5.xlarge", "ml.p6-b200.48xlarge"],
                    "max_instance_count": 4,
                    "max_run_seconds": 86400,
                    "max_warm_pool_seconds": 0,
                    "quota_instances": 8,
                    "spot_required": True,
                },
                "nlp": {},
            },
        )
    )
    assert config.has_teams
    assert [t.name for t in config.teams] == ["nlp", "vision"]  # name order, stable templates
    vision = config.team("vision")
    assert vision.instance_types == ("ml.g5.xlarge", "ml.p6-b200.48xlarge")
    assert (vision.max_instance_count, vision.max_run_seconds, vision.max_warm_pool_seconds) == (4, 86400, 0)
    assert vision.quota_instances == 8 and vision.spot_required and not vision.implicit
    assert vision.resource_prefix(config.job_name_prefix) == "ml-vision"
    assert vision.s3_prefix == "teams/vision/"
    assert config.team("nlp").max_instance_count is None
    with pytest.raises(KeyError, match="no team 'audio' on this platform \\(teams: nlp, vision\\)"):
        config.team("audio")


def test_flat_keys_from_the_command_line_go_on_top_of_the_object_field_by_field() -> None:
    config = DtrainConfig.from_context(
        context(
            teams={"vision": {"max_instance_count": 4, "quota_instances": 8}},
            **{
                "teams.vision.quota_instances": "16",  # -c strings are coerced
                "teams.vision.instance_types": "ml.g5.xlarge,ml.g5.2xlarge",
                "teams.nlp.spot_required": "true",
            },
        )
    )
    vision = config.team("vision")
    assert (vision.max_instance_count, vision.quota_instances) == (4, 16)
    assert vision.instance_types == ("ml.g5.xlarge", "ml.g5.2xlarge")
    assert config.team("nlp").spot_required


def test_a_teams_object_given_as_a_json_string_is_read() -> None:
    config = DtrainConfig.from_context(context(teams='{"vision": {"max_run_seconds": "3600"}}'))
    assert config.team("vision").max_run_seconds == 3600


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"teams": {"Vision": {}}}, "teams: Vision is not a team name"),
        ({"teams": {"ml-x": {}}}, "teams: ml-x is not a team name"),  # would nest in ml's ARNs
        ({"teams": {"abcdefghijklm": {}}}, "teams: abcdefghijklm is not a team name"),
        ({"teams": [1]}, 'teams: [1] is not an object of team objects ({"<team>": {...}})'),
        ({"teams": {"a": 3}}, "is not an object of team objects"),
        ({"teams.a": 3}, "teams.a: 3 is not teams.<team>.<field>"),
        (
            {"teams": {"a": {"max_runs_seconds": 5}}},
            "teams.a.max_runs_seconds: 5 is not a team field (did you mean max_run_seconds?)",
        ),
        ({"teams": {"a": {"instance_types": ["g5"]}}}, "teams.a.instance_types: g5 is not an instance type"),
        (
            {"teams": {"a": {"instance_types": ["ml.g5.xlarge", "ml.g5.xlarge"]}}},
            "names a type twice",
        ),
        ({"teams": {"a": {"max_instance_count": 0}}}, "teams.a.max_instance_count: 0 is less than 1"),
        ({"teams.a.max_instance_count": "x"}, "teams.a.max_instance_count: x is not an integer"),
        (
            {"teams": {"a": {"max_instance_count": True}}},
            "teams.a.max_instance_count: True is not an integer",
        ),
        (
            {"teams": {"a": {"max_run_seconds": MAX_RUN_SECONDS_LIMIT + 1}}},
            f"teams.a.max_run_seconds: {MAX_RUN_SECONDS_LIMIT + 1} is not between 1 and "
            f"{MAX_RUN_SECONDS_LIMIT}",
        ),
        (
            {"teams": {"a": {"max_warm_pool_seconds": 21601}}},
            "teams.a.max_warm_pool_seconds: 21601 is not between 0 and 21600",
        ),
        (
            {"teams": {"a": {"max_instance_count": 8, "quota_instances": 4}}},
            "teams.a.quota_instances: 4 is less than max_instance_count (8): "
            "a job that size could never start",
        ),
        ({"teams.a.spot_required": "yes"}, "teams.a.spot_required: yes is not true or false"),
    ],
)
def test_a_bad_team_is_refused_naming_the_key_and_the_rule(overrides: dict[str, Any], expected: str) -> None:
    assert any(expected in message for message in messages(overrides)), messages(overrides)


def test_every_bad_team_value_is_reported_in_one_pass() -> None:
    found = messages(
        {
            "teams": {
                "Bad": {"instance_types": ["g5"], "unknown": 1},
                "b": {"max_instance_count": 8, "quota_instances": 4},
            }
        }
    )
    assert len(found) == 4, found


def test_a_team_built_in_python_is_held_to_the_same_rules() -> None:
    with pytest.raises(ConfigErrors, match=r"teams\.a\.max_instance_count: 0 is less than 1"):
        TeamConfig("a", max_instance_count=0)
    with pytest.raises(ConfigErrors, match="is not a team name"):
        TeamConfig("A")


def test_the_construct_props_teams_replace_the_configs_and_are_checked() -> None:
    config = DtrainConfig.from_settings({"teams": {"old": {}}})
    replaced = config.with_teams([TeamConfig("vision", quota_instances=8), TeamConfig("audio")])
    assert [t.name for t in replaced.teams] == ["audio", "vision"]
    assert not config.with_teams([]).has_teams  # none: the implicit default team again
    with pytest.raises(ConfigErrors, match="teams: vision is named twice"):
        config.with_teams([TeamConfig("vision"), TeamConfig("vision")])


def test_a_settings_typo_in_the_team_section_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigErrors, match=r"teams\.a\.quota: 3 is not a team field"):
        DtrainConfig.from_settings({"teams": {"a": {"quota": 3}}})
