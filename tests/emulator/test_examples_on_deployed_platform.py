"""Every example against the settings of the whole app deployed in the emulator (as `make demo`
deploys it): a valid request under the service-side rules, every S3 location reachable by the
deployed execution role, channels in the deployed data bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtrain.cli import main
from dtrain.emulator import Emulator
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.s3_reach import check_reach, describes_role_reach, request_locations, role_grants
from dtrain.jobspec.service_rules import service_rule_problems
from dtrain.jobspec.spec import load_spec
from dtrain.requests.training_request import build_training_job_request

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))


@pytest.mark.slow
def test_every_example_is_valid_and_reachable_on_the_deployed_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator_app_assembly: Path
) -> None:
    with Emulator(emulator_app_assembly, announce=False) as emu:
        settings_json = emu.output("PlatformSettings")
        platform = PlatformSettings.from_json(settings_json)
        assert describes_role_reach(platform)
        data_bucket = str(platform.data_s3_uri).removeprefix("s3://")
        emu.client("s3").head_bucket(Bucket=data_bucket)  # the deployed bucket, not a name in a spec
        settings = tmp_path / "platform.json"
        settings.write_text(settings_json)
        print(f"deployed platform: {len(role_grants(platform))} S3 grants of the execution role")
        for example in EXAMPLES:
            request = build_training_job_request(load_spec(example), platform)
            assert service_rule_problems(request) == []
            check_reach(request, platform)
            locations = list(request_locations(request))
            channels = [loc for loc in locations if loc.field.startswith("inputs.")]
            assert all(loc.uri.startswith(f"s3://{data_bucket}/cifar10/") for loc in channels), example
            assert main(["validate", str(example), "--platform", str(settings)]) == 0, example
            print(f"{example.name}: valid, {len(locations)} S3 locations reachable")
    out = capsys.readouterr().out
    assert out.count(": valid,") == len(EXAMPLES)
    assert json.loads(settings_json)["data_s3_uri"] == f"s3://{data_bucket}"
