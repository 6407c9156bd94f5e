"""Unpacking a model artifact as SageMaker hosting does: local model.tar.gz, s3://, or a directory."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from dtrain.remote.errors import AwsCallFailed, UsageError
from dtrain.serving.archive import unpack_model


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_s3_archive_is_downloaded_and_unpacked(trained_archive: Path, tmp_path: Path, aws_env: None) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        s3.upload_file(str(trained_archive), "artifacts", "jobs/j-1/output/model.tar.gz")
        model_dir = unpack_model("s3://artifacts/jobs/j-1/output/model.tar.gz", tmp_path)
    assert (model_dir / "model.pt").is_file() and (model_dir / "code" / "inference.py").is_file()


def test_missing_s3_object_is_one_line_exit_3(tmp_path: Path, aws_env: None) -> None:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="artifacts")
        with pytest.raises(AwsCallFailed, match=r"cannot download s3://artifacts/none/model.tar.gz: 404"):
            unpack_model("s3://artifacts/none/model.tar.gz", tmp_path)
    assert AwsCallFailed.exit_code == 3


def test_a_directory_is_served_in_place(tmp_path: Path) -> None:
    assert unpack_model(str(tmp_path), tmp_path / "scratch") == tmp_path.resolve()


def test_member_escaping_the_model_dir_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(UsageError, match=r"not a readable model\.tar\.gz"):
        unpack_model(str(archive), tmp_path / "scratch")
    assert not (tmp_path / "scratch" / "outside.txt").exists() and not (tmp_path / "outside.txt").exists()


def test_not_an_archive_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "model.tar.gz"
    junk.write_text("not gzip")
    with pytest.raises(UsageError, match=r"not a readable model\.tar\.gz"):
        unpack_model(str(junk), tmp_path / "scratch")


def test_model_server_workers_comes_from_the_models_environment() -> None:
    from dtrain.serving.server import DEFAULT_WORKERS, model_server_workers

    assert model_server_workers({"SAGEMAKER_MODEL_SERVER_WORKERS": "3"}) == 3
    assert model_server_workers({}) == DEFAULT_WORKERS
    with pytest.raises(UsageError, match="SAGEMAKER_MODEL_SERVER_WORKERS: '0': must be a whole number"):
        model_server_workers({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"})


def test_serve_fetches_an_s3_model_in_the_region_of_region_flag(
    tmp_path: Path, aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dtrain.cli import main

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with mock_aws():
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        code = main(["serve", "s3://artifacts/none/model.tar.gz", "--region", "eu-west-1", "--port", "0"])
    assert code == 3
    assert "cannot download s3://artifacts/none/model.tar.gz: 404" in capsys.readouterr().err
