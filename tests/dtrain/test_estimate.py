"""`dtrain estimate`: a spec's worst case from its requests and the dated price table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dtrain.cli import main
from dtrain.jobspec.placeholder import placeholder_platform
from dtrain.jobspec.spec import load_spec, parse_spec
from dtrain.pricing.price_table import DEFAULT_TABLE, MissingPrice, PriceTableError, load_price_table
from dtrain.pricing.spec_cost import estimate_spec

REPO = Path(__file__).resolve().parents[2]
G5 = 1.408  # ml.g5.xlarge per hour in the packaged table
STORAGE = 0.14  # ML storage per GB-month


def _estimate(path: str | Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert main(["estimate", str(path), "--json", *extra]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_the_packaged_table_is_dated_with_its_region_and_sources() -> None:
    table = load_price_table()
    assert table.region == "us-east-1" and table.checked == "2026-12-06"
    assert "sagemaker" in table.sources and table.sources["sagemaker"].startswith("https://aws.amazon.com/")


def test_training_is_instances_x_count_x_max_run_plus_volumes(capsys: pytest.CaptureFixture[str]) -> None:
    out = _estimate(REPO / "examples/ddp_torchrun.json", capsys)
    training, volumes = out["bounded"]
    assert (training["instance_type"], training["count"], training["hours"]) == ("ml.g5.xlarge", 2, 1.0)
    assert training["usd"] == pytest.approx(2 * G5 * 1.0)
    assert volumes["usd"] == pytest.approx(30 * 2 * STORAGE * 1.0 / 730)
    assert out["worst_case_usd"] == round(2 * G5 + 30 * 2 * STORAGE / 730, 2)
    assert out["per_hour"] == []


def test_a_warm_pool_adds_its_keep_alive_on_every_instance(make_spec: Any) -> None:
    raw = make_spec(
        instance_type="ml.g5.xlarge", instance_count=2, max_run=3600, keep_alive_period_in_seconds=900
    )
    estimate = estimate_spec(parse_spec(raw), placeholder_platform(), load_price_table())
    warm = [line for line in estimate.bounded if line.item == "warm pool"]
    assert warm and warm[0].hours == 0.25 and warm[0].usd == pytest.approx(2 * G5 * 0.25)


def test_spot_is_priced_at_on_demand_as_its_worst_case_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spot = _estimate(REPO / "examples/spot_checkpoints.json", capsys)
    assert spot["bounded"][0]["usd"] == pytest.approx(2 * G5)  # max_run, not max_wait (7200 s)
    assert any(note.startswith("spot:") for note in spot["notes"])


def test_a_sweep_costs_one_job_per_entry(make_spec: Any) -> None:
    raw = make_spec(instance_type="ml.g5.xlarge", instance_count=1, max_run=1800)
    raw["sweep"] = {
        "overrides": [{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.001}],
        "max_concurrency": 2,
        "objective": {"metric": "validation:accuracy"},
    }
    raw["estimator"]["metric_definitions"] = [{"Name": "validation:accuracy", "Regex": "acc=([0-9.]+)"}]
    estimate = estimate_spec(parse_spec(raw), placeholder_platform(), load_price_table())
    assert estimate.bounded[0].hours == pytest.approx(1.5)  # 3 jobs x 0.5 h
    assert estimate.bounded[0].usd == pytest.approx(G5 * 1.5)


def test_processing_is_bounded_and_endpoints_and_transform_are_per_hour(
    capsys: pytest.CaptureFixture[str],
) -> None:
    processing = _estimate(REPO / "examples/processing/ddp_with_preprocessing.json", capsys)
    assert processing["bounded"][0]["item"] == "processing"
    assert processing["bounded"][0]["usd"] == pytest.approx(0.23 * 0.5)
    endpoint = _estimate(REPO / "examples/deploy/ddp_torchrun_deploy.json", capsys)
    assert [(x["item"], x["instance_type"], x["usd"]) for x in endpoint["per_hour"]] == [
        ("endpoint", "ml.m5.large", 0.115)
    ]
    transform = _estimate(REPO / "examples/deploy/ddp_torchrun_transform.json", capsys)
    assert [(x["item"], x["usd"]) for x in transform["per_hour"]] == [("transform", 0.23)]


def test_a_platform_team_s_own_table_changes_the_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = json.loads(DEFAULT_TABLE.read_text())
    table["sagemaker"]["instance_hour_by_use"] = {"training": {"ml.g5.xlarge": 1.0}}
    own = tmp_path / "prices.json"
    own.write_text(json.dumps(table))
    out = _estimate(REPO / "examples/ddp_torchrun.json", capsys, "--prices", str(own))
    assert out["bounded"][0]["usd"] == pytest.approx(2.0)
    monkeypatch.setenv("DTRAIN_PRICES", str(own))
    assert _estimate(REPO / "examples/ddp_torchrun.json", capsys)["bounded"][0]["usd"] == pytest.approx(2.0)


def test_an_instance_type_without_a_price_is_refused_naming_the_table(
    tmp_path: Path, make_spec: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(make_spec(instance_type="ml.trn1.32xlarge")))
    assert main(["estimate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "no price for ml.trn1.32xlarge (training)" in err and str(DEFAULT_TABLE) in err
    with pytest.raises(MissingPrice):
        estimate_spec(load_spec(spec), placeholder_platform(), load_price_table())


def test_a_broken_table_or_spec_is_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps({"region": "us-east-1"}))
    with pytest.raises(PriceTableError, match="missing or malformed"):
        load_price_table(bad)
    assert main(["estimate", str(REPO / "examples/ddp_torchrun.json"), "--prices", str(bad)]) == 2
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"framework": "pytorch", "estimator": {"instance_count": 0}}))
    assert main(["estimate", str(spec)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_every_example_has_an_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    # Job specs only: examples/platform_app is a CDK app (its cdk.json is no job spec).
    examples = sorted(p for p in (REPO / "examples").rglob("*.json") if "platform_app" not in p.parts)
    assert len(examples) >= 13
    for path in examples:
        out = _estimate(path, capsys)
        assert out["worst_case_usd"] > 0, path
