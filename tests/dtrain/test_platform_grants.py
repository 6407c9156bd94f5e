"""Issue 26, findings 14 and 16: what validated but failed on the platform is refused at validate,
one line naming the field and the rule: a role the platform may not pass, an image its execution
role may not pull, a packaged image asked to run a script it does not hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dtrain.cli import main
from dtrain.jobspec.errors import SpecError, SpecErrors
from dtrain.jobspec.estimator_values import BAKED_ENTRY_POINTS
from dtrain.jobspec.platform import PlatformSettings
from dtrain.orchestration.submit import prepare
from dtrain.requests.platform_grants import image_repository, inference_repositories

from .conftest import REPO

NOTEBOOK_ROLE = "arn:aws:iam::210987654321:role/service-role/AmazonSageMaker-ExecutionRole-20240101T000000"


def _platform_spec(**estimator: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((REPO / "examples" / "ddp_torchrun.json").read_text())
    spec["estimator"].update(estimator)
    return spec


def _validate(tmp_path: Path, spec: dict[str, Any], platform: PlatformSettings) -> int:
    settings = tmp_path / "platform.json"
    settings.write_text(platform.to_json())
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return main(["validate", str(path), "--platform", str(settings)])


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("block", "field"),
    [("estimator", "estimator.role"), ("processing", "processing.processor.role"), ("deploy", "deploy.role")],
)
def test_a_notebook_role_is_refused_by_validate_with_platform_settings(
    block: str,
    field: str,
    tmp_path: Path,
    platform: PlatformSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = _platform_spec()
    if block == "estimator":
        spec["estimator"]["role"] = NOTEBOOK_ROLE
    elif block == "processing":
        spec = json.loads((REPO / "examples" / "processing" / "ddp_with_preprocessing.json").read_text())
        spec["processing"]["processor"]["role"] = NOTEBOOK_ROLE
        spec["processing"]["run"]["code"] = "s3://dtrain-artifacts-210987654321/x/source/processing/p.py"
    else:
        spec["deploy"] = {
            "instance_type": "ml.m5.large",
            "initial_instance_count": 1,
            "framework_version": "2.2",
            "role": NOTEBOOK_ROLE,
        }
    code = _validate(tmp_path, spec, platform)
    assert code == 2
    (line,) = _lines(capsys)
    assert line == (
        f"{field}: '{NOTEBOOK_ROLE}': the platform passes only its execution role "
        f"{platform.role_arn} to SageMaker (iam:PassRole): leave role out"
    )


def test_the_platforms_own_role_given_explicitly_is_accepted(
    tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _validate(tmp_path, _platform_spec(role=platform.role_arn), platform)
    assert code == 0, capsys.readouterr().err


def test_the_state_machines_prepare_refuses_the_notebook_role_too(platform: PlatformSettings) -> None:
    with pytest.raises(SpecError, match=r"^estimator\.role: .*iam:PassRole"):
        prepare(_platform_spec(role=NOTEBOOK_ROLE), platform, region=platform.region)


def test_an_image_the_role_cannot_pull_is_refused(
    tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-trainer:1.0"
    spec = _platform_spec(
        image_uri=image, source_dir="s3://dtrain-artifacts-210987654321/x/source/sourcedir.tar.gz"
    )
    spec["estimator"].pop("distribution")
    code = _validate(tmp_path, spec, platform)
    assert code == 2
    (line,) = _lines(capsys)
    assert line.startswith(f"estimator.image_uri: '{image}': the platform's execution role cannot pull it; ")
    assert "210987654321.dkr.ecr.eu-west-1.amazonaws.com/dtrain-ddp" in line


def test_a_model_may_use_the_regions_inference_dlc_but_not_another_regions(
    tmp_path: Path, platform: PlatformSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    # The platform is in eu-west-1; its DLC registry is 763104351884's eu-west-1 one.
    good = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.2.0-cpu-py310"
    spec = _platform_spec()
    spec["deploy"] = {"instance_type": "ml.m5.large", "initial_instance_count": 1, "image_uri": good}
    assert _validate(tmp_path, spec, platform) == 0, capsys.readouterr().err
    spec["deploy"]["image_uri"] = good.replace("eu-west-1", "us-east-1")
    assert _validate(tmp_path, spec, platform) == 2
    (line,) = _lines(capsys)
    assert line.startswith("deploy.image_uri: ") and "cannot pull it" in line


def test_a_regions_own_dlc_account_is_the_one_granted() -> None:
    # af-south-1's Deep Learning Containers live in account 626614931356 (the SDK's registries).
    assert inference_repositories("af-south-1")[0].startswith(
        "626614931356.dkr.ecr.af-south-1.amazonaws.com/"
    )


@pytest.mark.parametrize(
    ("uri", "repository"),
    [
        ("1.dkr.ecr.r.amazonaws.com/a/b:tag", "1.dkr.ecr.r.amazonaws.com/a/b"),
        ("1.dkr.ecr.r.amazonaws.com/a@sha256:00", "1.dkr.ecr.r.amazonaws.com/a"),
        ("localhost:5000/a", "localhost:5000/a"),
    ],
)
def test_image_repository_drops_the_tag_or_digest(uri: str, repository: str) -> None:
    assert image_repository(uri) == repository


# -- finding 16: a packaged image asked to run a script it does not hold -----------------------


def test_a_packaged_image_without_source_dir_must_hold_the_entry_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It validated, then failed 54 s into `dtrain local` (and on the platform, after provisioning)."""
    spec = _platform_spec(entry_point="my_train.py")
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert main(["validate", str(path)]) == 2
    (line,) = _lines(capsys)
    assert line == (
        "estimator.entry_point: 'my_train.py': the ddp image holds only train_ddp.py: give source_dir "
        "(a local folder or an s3:// tarball) to run a script of your own"
    )


def test_the_baked_entry_points_are_what_the_dockerfiles_copy() -> None:
    for image, scripts in BAKED_ENTRY_POINTS.items():
        dockerfile = (REPO / "training_code" / image / "Dockerfile").read_text()
        copied = {
            script
            for line in dockerfile.splitlines()
            if line.startswith("COPY ") and "/opt/dtrain/code" in line
            for script in re.findall(rf"{image}/(\w+\.py)", line)
        }
        assert set(scripts) <= copied, (image, copied)
        # Every baked script that is a trainer (train_*.py) is listed.
        assert {s for s in copied if s.startswith("train_")} == set(scripts)


def test_errors_from_several_blocks_come_together(platform: PlatformSettings) -> None:
    from dtrain.jobspec.spec import parse_spec
    from dtrain.requests.platform_grants import check_grants

    spec = _platform_spec(role=NOTEBOOK_ROLE)
    spec["deploy"] = {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "framework_version": "2.2",
        "role": NOTEBOOK_ROLE,
    }
    with pytest.raises(SpecErrors) as refused:
        check_grants(parse_spec(spec), platform)
    assert [e.field for e in refused.value.errors] == ["estimator.role", "deploy.role"]


# -- finding 16: a requirements.txt the toolkit would pip-install without a package index ------


def _with_source_dir(tmp_path: Path, **estimator: Any) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('hi')\n")
    (code / "requirements.txt").write_text("timm==1.0.9\n")
    spec = _platform_spec(entry_point="train.py", source_dir="code", **estimator)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_a_requirements_file_is_named_on_stderr_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _with_source_dir(tmp_path)
    assert main(["validate", str(path)]) == 0
    (note,) = [line for line in capsys.readouterr().err.splitlines() if "requirements.txt" in line]
    assert note.startswith("note: estimator.source_dir: 'code': holds requirements.txt, which the SageMaker")
    assert "network.nat_gateways" in note


def test_a_requirements_file_with_network_isolation_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _with_source_dir(tmp_path, enable_network_isolation=True)
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "estimator.source_dir: 'code': holds requirements.txt, which the toolkit pip-installs at job "
        "start; with enable_network_isolation the container has no network: put the packages in the image"
    ]


def test_inference_images_come_from_the_regions_own_dlc_account() -> None:
    """Issue 26, finding 13: AWS's published table, regions newer than SDK 2.220 included."""
    from dtrain.jobspec.inference_images import inference_image_uri

    uri = inference_image_uri("pytorch", "2.2", "mx-central-1", "ml.m5.large")
    assert uri == "637423239942.dkr.ecr.mx-central-1.amazonaws.com/pytorch-inference:2.2-cpu-py310"
    assert inference_image_uri("pytorch", "2.2", "me-south-1", "ml.m5.large").startswith("217643126080.")
    with pytest.raises(SpecError, match=r"^region: 'xx-nowhere-1': the Deep Learning Containers"):
        inference_image_uri("pytorch", "2.2", "xx-nowhere-1", "ml.m5.large")
