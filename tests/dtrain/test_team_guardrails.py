"""A team's guardrails refused early (issue 29, finding 9): `dtrain validate --platform`, `submit`'s
local check and the Submit Lambda's Prepare refuse a job past the team's limits with one line per
broken limit, naming the spec's field and the `teams.<team>.<field>` rule."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from dtrain.cli import main
from dtrain.config import TEAM_FIELDS, TeamConfig
from dtrain.jobspec.errors import ErrorCollector, SpecError, SpecErrors, as_error_list
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import parse_spec
from dtrain.jobspec.team_limits import TeamLimits
from dtrain.orchestration.submit import prepare
from dtrain.remote.spec_check import SpecRejected, check_against_platform
from dtrain.requests.execution_requests import execution_requests
from dtrain.requests.team_guardrails import guardrail_problems

from .conftest import PLATFORM_DICT

REPO = Path(__file__).resolve().parents[2]
VISION = {
    "instance_types": ["ml.g5.xlarge", "ml.g5.12xlarge"],
    "max_instance_count": 8,
    "max_run_seconds": 86400,
    "max_warm_pool_seconds": 600,
    "spot_required": True,
}
# Finding 9: 64 x ml.p5.48xlarge for 28 days with a warm pool, which validate accepted.
FINDING_9 = {
    "framework": "pytorch",
    "job_name": "big-0001",
    "estimator": {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.p5.48xlarge",
        "instance_count": 64,
        "distribution": {"torch_distributed": {"enabled": True}},
        "max_run": 28 * 86400,
        "keep_alive_period_in_seconds": 3600,
    },
}
# Within every limit of VISION: spot, g5, 2 instances, a day.
WITHIN = {
    **FINDING_9,
    "estimator": {
        **FINDING_9["estimator"],
        "instance_type": "ml.g5.12xlarge",
        "instance_count": 2,
        "max_run": 86400,
        "max_wait": 86400,
        "use_spot_instances": True,
        "keep_alive_period_in_seconds": None,
    },
}
WITHIN["estimator"] = {k: v for k, v in WITHIN["estimator"].items() if v is not None}


def _settings(guardrails: dict[str, Any] | None = VISION, team: str = "vision") -> dict[str, Any]:
    data = copy.deepcopy(PLATFORM_DICT)
    data["team"] = team
    if guardrails is not None:
        data["guardrails"] = guardrails
    return data


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_validate_refuses_finding_9_with_one_line_per_guardrail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _write(tmp_path, "spec.json", FINDING_9)
    assert main(["validate", spec, "--platform", _write(tmp_path, "p.json", _settings())]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "estimator.instance_type: 'ml.p5.48xlarge': team vision may use only ml.g5.xlarge, ml.g5.12xlarge"
        " (teams.vision.instance_types)",
        "estimator.instance_count: 64: team vision's jobs may use at most 8 instances"
        " (teams.vision.max_instance_count)",
        "estimator.max_run: 2419200: team vision's jobs may run at most 86400 s"
        " (teams.vision.max_run_seconds)",
        "estimator.keep_alive_period_in_seconds: 3600: team vision may keep a warm pool at most 600 s"
        " (teams.vision.max_warm_pool_seconds)",
        "estimator.use_spot_instances: False: team vision's training jobs must use managed spot training"
        " (teams.vision.spot_required)",
    ]
    # The same spec against the same platform without guardrails: accepted (SageMaker's own
    # rules let it through), so each line above is the guardrail's.
    unguarded = _write(tmp_path, "open.json", _settings(guardrails=None))
    assert main(["validate", spec, "--platform", unguarded]) == 0


def test_validate_accepts_a_job_within_every_limit(tmp_path: Path) -> None:
    spec = _write(tmp_path, "spec.json", WITHIN)
    assert main(["validate", spec, "--platform", _write(tmp_path, "p.json", _settings())]) == 0


def test_a_team_without_a_warm_pool_allowance_is_told_so(platform: Any) -> None:
    settings = PlatformSettings.from_dict(_settings({"max_warm_pool_seconds": 0}))
    raw = {**WITHIN, "estimator": {**WITHIN["estimator"], "use_spot_instances": False}}
    raw["estimator"]["keep_alive_period_in_seconds"] = 60
    raw["estimator"].pop("max_wait")
    (problem,) = guardrail_problems(
        [(r.operation, r.label, r.request) for r in execution_requests(parse_spec(raw), settings)], settings
    )
    assert str(problem) == (
        "estimator.keep_alive_period_in_seconds: 60: team vision may not keep a warm pool"
        " (teams.vision.max_warm_pool_seconds)"
    )


def test_a_sweep_is_refused_once_not_once_per_item() -> None:
    settings = PlatformSettings.from_dict(_settings({"instance_types": ["ml.g5.xlarge"]}))
    raw = copy.deepcopy(WITHIN)
    raw["estimator"]["metric_definitions"] = [{"Name": "val:acc", "Regex": "acc=([0-9.]+)"}]
    raw["sweep"] = {
        "overrides": [{"lr": 0.1}, {"lr": 0.05}, {"lr": 0.01}],
        "max_concurrency": 2,
        "objective": {"metric": "val:acc"},
    }
    requests = execution_requests(parse_spec(raw), settings)
    assert len(requests) == 3
    (problem,) = guardrail_problems([(r.operation, r.label, r.request) for r in requests], settings)
    assert (problem.field, problem.value) == ("estimator.instance_type", "ml.g5.12xlarge")


def test_a_processing_job_is_held_to_the_instance_types_and_max_run() -> None:
    raw = json.loads((REPO / "examples/processing/ddp_with_preprocessing.json").read_text())
    raw["processing"]["run"]["code"] = "s3://code/preprocess.py"
    settings = PlatformSettings.from_dict(
        _settings({"instance_types": ["ml.g5.xlarge"], "max_run_seconds": 900})
    )
    requests = execution_requests(parse_spec(raw), settings)
    fields = {
        e.field for e in guardrail_problems([(r.operation, r.label, r.request) for r in requests], settings)
    }
    assert fields == {
        "processing.processor.instance_type",  # ml.m5.xlarge
        "processing.processor.max_runtime_in_seconds",  # 1800
        "estimator.max_run",  # 3600
    }


def test_a_transform_job_is_held_to_the_instance_types_only() -> None:
    """A transform block's instance type outside the team's list is refused (its Deny covers
    CreateTransformJob); its instance count is not held (no quota or count rule for transform),
    and an endpoint's instances are not held at all (hosting, docs/platform-team.md)."""
    raw = json.loads((REPO / "examples/deploy/ddp_torchrun_transform.json").read_text())
    raw["transform"]["instance_count"] = 20  # past max_instance_count: not a transform rule
    settings = PlatformSettings.from_dict(
        _settings({"instance_types": ["ml.g5.xlarge"], "max_instance_count": 8})
    )
    requests = execution_requests(parse_spec(raw), settings)
    (problem,) = guardrail_problems([(r.operation, r.label, r.request) for r in requests], settings)
    assert (problem.field, problem.value) == ("transform.instance_type", "ml.m5.xlarge")
    assert "teams.vision.instance_types" in str(problem)
    with pytest.raises(SpecError, match=r"transform\.instance_type: 'ml\.m5\.xlarge'"):
        prepare(raw, settings, region="eu-west-1")
    raw["transform"]["instance_type"] = "ml.g5.xlarge"
    assert prepare(raw, settings, region="eu-west-1")["is_sweep"] is False


def test_instance_groups_count_together_toward_the_instance_limit() -> None:
    settings = PlatformSettings.from_dict(_settings({"max_instance_count": 4}))
    raw = copy.deepcopy(WITHIN)
    for key in ("instance_type", "instance_count", "distribution"):
        raw["estimator"].pop(key)
    raw["estimator"]["instance_groups"] = [
        {"instance_group_name": "a", "instance_type": "ml.g5.xlarge", "instance_count": 3},
        {"instance_group_name": "b", "instance_type": "ml.g5.12xlarge", "instance_count": 2},
    ]
    requests = execution_requests(parse_spec(raw), settings)
    (problem,) = guardrail_problems([(r.operation, r.label, r.request) for r in requests], settings)
    assert (problem.field, problem.value) == ("estimator.instance_groups", 5)


def test_submit_refuses_before_anything_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    """`dtrain submit`'s local check reads the stack's PlatformSettings output: the same refusal."""
    with pytest.raises(SpecRejected):
        check_against_platform(FINDING_9, json.dumps(_settings()), "big-0001")
    assert "teams.vision.max_instance_count" in capsys.readouterr().err


def test_prepare_refuses_in_the_lambda_as_validate_does() -> None:
    """The Submit Lambda's Prepare, with the team's settings in DTRAIN_PLATFORM: a spec that
    reached the state machine without the CLI (StartExecution by hand) is refused there."""
    settings = PlatformSettings.from_dict(_settings())
    with pytest.raises((SpecError, SpecErrors)) as refused:
        prepare(FINDING_9, settings, region="eu-west-1")
    assert len(as_error_list(refused.value)) == 5  # type: ignore[arg-type]
    assert prepare(WITHIN, settings, region="eu-west-1")["is_sweep"] is False


def test_the_settings_json_carries_only_the_limits_that_are_set() -> None:
    unlimited = PlatformSettings.from_dict(_settings(guardrails=None))
    assert "guardrails" not in unlimited.to_dict()  # a platform without teams: its JSON as before
    limited = PlatformSettings.from_dict(_settings({"max_run_seconds": 3600, "quota_instances": 4}))
    assert limited.to_dict()["guardrails"] == {"max_run_seconds": 3600, "quota_instances": 4}
    assert PlatformSettings.from_json(limited.to_json()) == limited
    with pytest.raises(SpecErrors) as bad:
        PlatformSettings.from_dict(_settings({"max_run_seconds": "a day", "gpus": 8}))
    assert {e.field for e in bad.value} == {"platform.guardrails.max_run_seconds", "platform.guardrails.gpus"}


def test_the_limits_hold_the_team_config_fields() -> None:
    """TeamLimits repeats TeamConfig's fields (the spec core cannot import dtrain.config)."""
    assert tuple(f.name for f in dataclasses.fields(TeamLimits)) == TEAM_FIELDS
    team = TeamConfig("vision", instance_types=("ml.g5.xlarge",), max_instance_count=2, quota_instances=4)
    assert TeamLimits.from_team_fields(team).to_dict() == {
        "instance_types": ["ml.g5.xlarge"],
        "max_instance_count": 2,
        "quota_instances": 4,
    }


def test_the_base_settings_of_a_platform_with_teams_hand_each_team_its_own_limits() -> None:
    base = PlatformSettings.from_dict(
        {
            **_settings(guardrails=None, team="default"),
            "teams": ["nlp", "vision"],
            "team_guardrails": {"vision": VISION},
        }
    )
    assert not base.guardrails.any
    assert base.for_team("vision").guardrails == TeamLimits.parse(VISION, ErrorCollector())
    assert not base.for_team("nlp").guardrails.any
    assert PlatformSettings.from_json(base.to_json()) == base
    with pytest.raises(SpecError, match=r"^platform\.team_guardrails\.nlp\.spot_required: 1: "):
        PlatformSettings.from_dict(
            {**_settings(guardrails=None), "team_guardrails": {"nlp": {"spot_required": 1}}}
        )


def test_a_job_larger_than_the_teams_whole_quota_is_refused_not_left_waiting() -> None:
    settings = PlatformSettings.from_dict(_settings({"quota_instances": 4}))
    raw = copy.deepcopy(WITHIN)
    raw["estimator"]["instance_count"] = 8
    (problem,) = guardrail_problems(
        [(r.operation, r.label, r.request) for r in execution_requests(parse_spec(raw), settings)], settings
    )
    assert str(problem) == (
        "estimator.instance_count: 8: team vision's quota is 4 instances at once: a job this size could"
        " never start (teams.vision.quota_instances)"
    )


def test_validate_against_the_base_settings_of_a_platform_with_teams_takes_the_teams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stack's PlatformSettings output of a platform with teams is a base: --team picks the
    team whose guardrails apply (nlp has none, vision refuses finding 9)."""
    base = {**_settings(guardrails=None, team="default"), "teams": ["nlp", "vision"]}
    base["team_guardrails"] = {"vision": VISION}
    platform = _write(tmp_path, "base.json", base)
    spec = _write(tmp_path, "spec.json", FINDING_9)
    assert main(["validate", spec, "--platform", platform]) == 2
    assert "the platform has teams (nlp, vision): name one with --team" in capsys.readouterr().err
    assert main(["validate", spec, "--platform", platform, "--team", "vision"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 5
    assert main(["validate", spec, "--platform", platform, "--team", "nlp"]) == 0
    assert "team nlp" in capsys.readouterr().out
