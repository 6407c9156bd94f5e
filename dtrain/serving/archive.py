"""A model artifact as the directory a serving container sees as /opt/ml/model.

SageMaker hosting downloads the model's ModelDataUrl (a model.tar.gz) and extracts it into
/opt/ml/model (Developer Guide, "How SageMaker Loads Your Model Artifacts"). Here the artifact
is a local model.tar.gz, an s3:// URL (fetched with the command's boto3 session, so the
emulator's S3 answers when AWS_ENDPOINT_URL points at it), or an already unpacked directory.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from dtrain.remote.aws import AwsSession, translate_aws_errors
from dtrain.remote.errors import UsageError

if TYPE_CHECKING:
    from dtrain.remote.aws import AwsSession

ARCHIVE_NAME = "model.tar.gz"


def split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise UsageError(f"MODEL: {url!r}: an S3 model must be s3://BUCKET/KEY (of a model.tar.gz)")
    return bucket, key


def download_s3_archive(url: str, dest: Path, session: AwsSession | None = None) -> Path:
    bucket, key = split_s3_url(url)
    target = dest / ARCHIVE_NAME
    dest.mkdir(parents=True, exist_ok=True)
    client = (session or AwsSession()).client("s3")
    with translate_aws_errors(f"download {url}"):
        client.download_file(bucket, key, str(target))
    return target


def extract_archive(archive: Path, dest: Path) -> Path:
    """model.tar.gz -> dest; the `data` filter refuses links out of dest, devices and absolute paths."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        # EOFError and zlib.error: a truncated or corrupt gzip stream, met while extracting
        why = " ".join(str(exc).split())  # tarfile lists each method it tried, one per line
        raise UsageError(f"MODEL: {str(archive)!r}: not a readable model.tar.gz ({why})") from None
    return dest


def unpack_model(source: str, scratch: Path, *, session: AwsSession | None = None) -> Path:
    """The model directory for `source` (a directory is served in place; archives unpack under scratch)."""
    if source.startswith("s3://"):
        return extract_archive(download_s3_archive(source, scratch, session), scratch / "model")
    path = Path(source).expanduser()
    if path.is_dir():
        return path.resolve()
    if not path.is_file():
        raise UsageError(
            f"MODEL: {source!r}: no such file or directory (a model.tar.gz, its directory, or s3://...)"
        )
    return extract_archive(path, scratch / "model")
