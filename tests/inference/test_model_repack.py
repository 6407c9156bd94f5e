"""The `model` phase's repack (dtrain.orchestration.model_repack) against moto's S3: the trained
files kept, code/ replaced by the block's code, a retry adopting the archive, limits refused."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from dtrain.orchestration.model_repack import RepackError, repack_model

BUCKET = "artifacts"
MODEL = f"s3://{BUCKET}/jobs/dtrain-job-1/output/model.tar.gz"
CODE = f"s3://{BUCKET}/exec-1/source/inference/sourcedir.tar.gz"
TARGET = f"s3://{BUCKET}/jobs/dtrain-job-1/model.tar.gz"


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _put(s3: Any, uri: str, data: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=uri.split("/", 3)[3], Body=data)


def _get(s3: Any, uri: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])["Body"].read())


def test_repack_keeps_the_trained_files_and_replaces_code_with_the_blocks_code(s3: Any) -> None:
    _put(
        s3,
        MODEL,
        _tarball(
            {
                "model.pth": b"weights" * 1000,
                "extra/labels.txt": b"cat\ndog\n",
                "code/inference.py": b"# the trainer's",
                "code/helper.py": b"# the trainer's helper",
            }
        ),
    )
    _put(s3, CODE, _tarball({"serve.py": b"# mine", "lib/util.py": b"# my util", "./README": b"r"}))
    result = repack_model(s3, model_data=MODEL, code=CODE, target=TARGET)
    assert result.adopted is False and result.model_data_url == TARGET
    assert _members(_get(s3, TARGET)) == {
        "model.pth": b"weights" * 1000,
        "extra/labels.txt": b"cat\ndog\n",
        "code/serve.py": b"# mine",
        "code/lib/util.py": b"# my util",
        "code/README": b"r",
    }
    # The trained archive is untouched: the model is served from the repacked one only.
    assert "code/inference.py" in _members(_get(s3, MODEL))


def test_a_retry_adopts_the_repacked_archive_and_new_code_rewrites_it(s3: Any) -> None:
    _put(s3, MODEL, _tarball({"model.pth": b"w"}))
    _put(s3, CODE, _tarball({"serve.py": b"# v1"}))
    assert repack_model(s3, model_data=MODEL, code=CODE, target=TARGET).adopted is False
    first = s3.head_object(Bucket=BUCKET, Key=TARGET.split("/", 3)[3])["ETag"]
    assert repack_model(s3, model_data=MODEL, code=CODE, target=TARGET).adopted is True
    assert s3.head_object(Bucket=BUCKET, Key=TARGET.split("/", 3)[3])["ETag"] == first
    # An archive made from other code is not adopted.
    _put(s3, CODE, _tarball({"serve.py": b"# v2"}))
    assert repack_model(s3, model_data=MODEL, code=CODE, target=TARGET).adopted is False
    assert _members(_get(s3, TARGET))["code/serve.py"] == b"# v2"


def test_a_model_above_the_limit_is_refused_before_anything_is_written(s3: Any) -> None:
    _put(s3, MODEL, _tarball({"model.pth": os.urandom(4096)}))
    _put(s3, CODE, _tarball({"serve.py": b"#"}))
    with pytest.raises(
        RepackError, match=r"model_data: s3://artifacts/.* the platform repacks at most 0 MiB"
    ):
        repack_model(s3, model_data=MODEL, code=CODE, target=TARGET, max_model_bytes=1000)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=TARGET.split("/", 3)[3])


def test_code_leaving_code_dir_and_a_broken_model_are_refused(s3: Any) -> None:
    _put(s3, MODEL, _tarball({"model.pth": b"w"}))
    _put(s3, CODE, _tarball({"../evil.py": b"#"}))
    with pytest.raises(RepackError, match=r"source_dir: member '\.\./evil\.py' .* outside code/"):
        repack_model(s3, model_data=MODEL, code=CODE, target=TARGET)
    _put(s3, MODEL, b"not a tarball")
    _put(s3, CODE, _tarball({"serve.py": b"#"}))
    with pytest.raises(RepackError, match=r"the trained model\.tar\.gz is not a gzip tarball"):
        repack_model(s3, model_data=MODEL, code=CODE, target=TARGET)
