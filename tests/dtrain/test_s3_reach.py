"""The execution role's S3 reach (dtrain.jobspec.s3_reach): every location a request reads or writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dtrain.cli import main
from dtrain.jobspec.errors import SpecError, SpecErrors, as_error_list
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.s3_reach import ROLE_S3_GRANTS, check_reach, reach_problems, role_grants
from dtrain.jobspec.spec import load_spec, parse_spec
from dtrain.remote.spec_check import SpecRejected, check_against_platform
from dtrain.requests.training_request import build_training_job_request

from .conftest import EXAMPLES, minimal_spec


def _platform_spec(**estimator: Any) -> dict[str, Any]:
    """A spec that takes role and output from the platform, as a platform user writes it."""
    spec = minimal_spec(**{"role": None, "output_path": None, "source_dir": None, **estimator})
    spec["inputs"] = {"train": {"s3": "data", "path": "cifar10/train"}}
    return spec


def _problems(spec: dict[str, Any], platform: PlatformSettings) -> dict[str, SpecError]:
    request = build_training_job_request(parse_spec(spec), platform)
    return {e.field: e for e in reach_problems(request, platform)}


def test_the_table_resolves_to_the_platform_buckets(platform: PlatformSettings) -> None:
    grants = {(g.uri, tuple(sorted(g.access))) for g in role_grants(platform)}
    assert grants == {
        ("s3://dtrain-data-210987654321/*", ("read",)),
        ("s3://dtrain-artifacts-210987654321/jobs/*", ("read", "write")),
        ("s3://dtrain-checkpoints-210987654321/ckpt/*", ("read", "write")),
        ("s3://dtrain-artifacts-210987654321/*/source/sourcedir.tar.gz", ("read",)),
        ("s3://dtrain-artifacts-210987654321/*/source/processing/*", ("read",)),
    }
    assert len(ROLE_S3_GRANTS) == 5


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_reaches_only_what_the_role_may(example: Path, platform: PlatformSettings) -> None:
    request = build_training_job_request(load_spec(example), platform)
    check_reach(request, platform)
    uris = [
        c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in request.get("InputDataConfig", [])
        if "S3DataSource" in c["DataSource"]
    ]
    assert all(u.startswith("s3://dtrain-data-210987654321/cifar10/") for u in uris)


def test_a_channel_outside_the_data_bucket_is_refused_with_field_uri_and_allowed_prefixes(
    platform: PlatformSettings,
) -> None:
    spec = _platform_spec()
    spec["inputs"]["train"] = "s3://dtrain-example-data/cifar10/train"
    error = _problems(spec, platform)["inputs.train"]
    text = str(error)
    assert "s3://dtrain-example-data/cifar10/train" in text and "\n" not in text
    assert "cannot read" in text and "s3://dtrain-data-210987654321/*" in text
    assert "write s3://dtrain-artifacts-210987654321/jobs/*" in text


def test_outputs_and_checkpoints_must_be_under_the_jobs_prefixes(platform: PlatformSettings) -> None:
    assert _problems(_platform_spec(), platform) == {}
    outside = _platform_spec(
        output_path="s3://dtrain-artifacts-210987654321/elsewhere",
        checkpoint_s3_uri="s3://dtrain-example-checkpoints/cifar10-ddp-spot",
    )
    assert set(_problems(outside, platform)) == {"estimator.output_path", "estimator.checkpoint_s3_uri"}
    inside = _platform_spec(
        output_path="s3://dtrain-artifacts-210987654321/jobs/team-a",
        checkpoint_s3_uri="s3://dtrain-checkpoints-210987654321/ckpt/run-1",
    )
    assert _problems(inside, platform) == {}
    # A prefix that only starts like the jobs prefix also covers keys outside it: refused.
    assert set(_problems(_platform_spec(output_path="s3://dtrain-artifacts-210987654321/job"), platform)) == {
        "estimator.output_path"
    }


def test_code_uploaded_by_the_cli_is_readable_and_foreign_code_is_not(
    platform: PlatformSettings, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text("print(1)\n")
    local = _platform_spec(source_dir=str(tmp_path))
    assert _problems(local, platform) == {}
    isolated = _platform_spec(source_dir=str(tmp_path), enable_network_isolation=True)
    assert _problems(isolated, platform) == {}
    foreign = _platform_spec(source_dir="s3://my-code/project/sourcedir.tar.gz")
    assert set(_problems(foreign, platform)) == {"estimator.source_dir"}


def test_settings_without_a_data_bucket_are_not_checked(platform: PlatformSettings) -> None:
    old = PlatformSettings.from_dict({**platform.to_dict(), "data_s3_uri": None})
    spec = _platform_spec()
    spec["inputs"]["train"] = "s3://anywhere/x"
    assert _problems(spec, old) == {}


def _old_example(tmp_path: Path) -> Path:
    """examples/ddp_torchrun.json as it was: a bucket the platform's role cannot read."""
    spec = json.loads((Path(EXAMPLES[0]).parent / "ddp_torchrun.json").read_text())
    spec["inputs"] = {"train": "s3://dtrain-example-data/cifar10/train"}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(spec))
    return path


def test_validate_and_render_with_platform_refuse_unreachable_uris(
    tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "platform.json"
    settings.write_text(platform.to_json())
    old = str(_old_example(tmp_path))
    for command in ("validate", "render"):
        assert main([command, old, "--platform", str(settings)]) == 2
        err = capsys.readouterr().err
        assert (
            err.startswith("inputs.train: 's3://dtrain-example-data/cifar10/train': ")
            and err.count("\n") == 1
        )
    assert main(["validate", old]) == 0  # a placeholder platform says nothing about real buckets
    capsys.readouterr()
    for example in EXAMPLES:
        assert main(["validate", str(example), "--platform", str(settings)]) == 0, example


def test_render_notes_the_volume_key_it_left_out(
    tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed = PlatformSettings.from_dict({**platform.to_dict(), "volume_kms_key_id": "alias/vol"})
    settings = tmp_path / "platform.json"
    settings.write_text(keyed.to_json())
    assert main(["render", str(EXAMPLES[0]), "--platform", str(settings)]) == 0
    captured = capsys.readouterr()
    assert "VolumeKmsKeyId" not in json.loads(captured.out)["ResourceConfig"]
    assert captured.err.startswith(
        "note: ResourceConfig.VolumeKmsKeyId: the platform's volume key is left out"
    )


def test_submit_checks_reach_with_the_stack_settings(
    tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = json.loads(_old_example(tmp_path).read_text())
    with pytest.raises(SpecRejected):
        check_against_platform(raw, platform.to_json(), "dtrain-old-1")
    assert "inputs.train" in capsys.readouterr().err
    check_against_platform(raw, None, "dtrain-old-1")  # placeholder: spec rules only
    for example in EXAMPLES:
        check_against_platform(json.loads(example.read_text()), platform.to_json(), "dtrain-example-1")


def test_errors_are_one_per_location(platform: PlatformSettings) -> None:
    spec = _platform_spec(output_path="s3://x-out/jobs", checkpoint_s3_uri="s3://x-ckpt/c")
    spec["inputs"] = {"a": "s3://x-a/1", "b": "s3://x-b/2"}
    request = build_training_job_request(parse_spec(spec), platform)
    with pytest.raises(SpecErrors) as info:
        check_reach(request, platform)
    assert [e.field for e in as_error_list(info.value)] == [
        "inputs.a",
        "inputs.b",
        "estimator.source_dir",  # the CLI uploads local code next to the output: same bucket
        "estimator.output_path",
        "estimator.checkpoint_s3_uri",
    ]
