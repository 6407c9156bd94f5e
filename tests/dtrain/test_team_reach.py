"""Submit's refusal of a spec naming another team's data, role or resource (issue 29), and the
settings an execution of a team's state machine runs with."""

from __future__ import annotations

import pytest

from dtrain.jobspec.errors import SpecError
from dtrain.jobspec.platform import PlatformSettings
from dtrain.orchestration.errors import InvalidEvent
from dtrain.orchestration.submit import platform_for_team
from dtrain.requests.team_reach import check_team_reach

BASE = PlatformSettings(
    region="us-east-1",
    role_arn="arn:aws:iam::123456789012:role/dtrain-nlp-execution",
    output_s3_uri="s3://artifacts/jobs",
    checkpoint_s3_uri="s3://checkpoints/jobs",
    data_s3_uri="s3://data",
    teams=("nlp", "vision"),
)
VISION = BASE.for_team("vision")


@pytest.mark.parametrize(
    ("spec", "field", "what"),
    [
        ({"inputs": {"train": "s3://data/teams/nlp/cifar"}}, "inputs.train", "data"),
        (
            {"estimator": {"role": "arn:aws:iam::123456789012:role/dtrain-nlp-execution"}},
            "estimator.role",
            "role",
        ),
        ({"deploy": {"endpoint_name": "dtrain-nlp-serve"}}, "deploy.endpoint_name", "resource"),
        (
            {"transform": {"model_name": "arn:aws:sagemaker:us-east-1:1:model/dtrain-nlp-m"}},
            "transform.model_name",
            "resource",
        ),
        (
            {"estimator": {"source_dir": "s3://artifacts/teams/nlp/x/source/sourcedir.tar.gz"}},
            "estimator.source_dir",
            "data",
        ),
    ],
)
def test_a_team_s_spec_naming_another_team_s_things_is_refused_in_one_line(
    spec: dict[str, object], field: str, what: str
) -> None:
    with pytest.raises(SpecError) as caught:
        check_team_reach(spec, VISION)
    assert caught.value.field == field
    assert f"names team nlp's {what}; this execution runs for team vision" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_its_own_things_and_a_platform_without_teams_pass() -> None:
    own = {
        "inputs": {"train": "s3://data/teams/vision/cifar", "other": "s3://elsewhere/nlp/x"},
        "deploy": {"endpoint_name": "serve"},
        "hyperparameters": {"note": "dtrain-nlpx is not a team's name"},
    }
    check_team_reach(own, VISION)
    # The base settings (no team chosen) and a platform without teams check nothing.
    check_team_reach({"inputs": {"train": "s3://data/teams/nlp/x"}}, BASE)


def test_an_execution_runs_with_its_state_machine_s_team_settings() -> None:
    assert platform_for_team(BASE, "vision") == VISION
    no_teams = PlatformSettings(
        region="us-east-1",
        role_arn="arn:aws:iam::1:role/r",
        output_s3_uri="s3://a/jobs",
        checkpoint_s3_uri="s3://c/jobs",
    )
    assert platform_for_team(no_teams, "") is no_teams
    with pytest.raises(InvalidEvent, match="names none"):
        platform_for_team(BASE, "")
    with pytest.raises(InvalidEvent, match="not a team of this platform"):
        platform_for_team(BASE, "audio")
