"""The `model` phase's repack: the trained model.tar.gz with `code/` replaced by the block's
inference code, as SDK 2.220's utils.repack_model does on the caller's machine before
CreateModel (dtrain.requests.inference_request.model_repack says what goes where).

Streaming, in bounded memory: the trained archive is read from S3 as a gzip stream
(tarfile 'r|gz'), each member is copied into a new gzip stream written to a temporary file in
/tmp (the Lambda's ephemeral storage), and that file is uploaded by boto3's managed transfer
(multipart above 8 MiB). Nothing is held whole in memory; the limits are the Submit Lambda's
/tmp (512 MiB, the Lambda default, which the stack keeps) and its 2-minute timeout, so an
archive above MAX_MODEL_BYTES is refused before anything is read, with what to do instead.

Idempotent: the repacked key is derived from the model's name (one per training job) and
carries the ETags of what it was made from; a retried `model` phase adopts it.
"""

from __future__ import annotations

import gzip
import re
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from botocore.exceptions import ClientError

CODE_DIR = "code"
# Lambda's /tmp is 512 MiB unless the function raises it (Lambda developer guide, "Configuring
# ephemeral storage"); the repacked archive is about the trained one's size plus the code. 384 MiB
# leaves room for the code and other files in /tmp. Time is not the tighter bound: 45 MiB/s per
# core measured (benchmarks/model_repack.py, incompressible weights), about 6.5 MiB/s at the
# 256-MB Lambda's share of a vCPU, so ~590 MiB in 90 s of Submit's 2-minute timeout.
MAX_MODEL_BYTES = 384 * 1024 * 1024
MAX_CODE_BYTES = 64 * 1024 * 1024
COMPRESS_LEVEL = 6  # gzip's default: level 9 (tarfile's stream default) costs ~2x the time
SOURCE_MODEL_META = "dtrain-model-etag"
SOURCE_CODE_META = "dtrain-code-etag"
_S3_RE = re.compile(r"s3://([^/]+)/(.+)")


class RepackError(Exception):
    """The model cannot be repacked (too large, a bad code tarball): fails the `model` step."""


@dataclass(frozen=True)
class RepackResult:
    model_data_url: str
    adopted: bool
    members: int = 0


def split_s3(uri: str, field: str) -> tuple[str, str]:
    match = _S3_RE.fullmatch(uri)
    if match is None:
        raise RepackError(f"{field}: {uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def _code_name(name: str) -> str:
    """A code tarball member's name under code/; refuses names that would leave it."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise RepackError(f"source_dir: member {name!r} of the code tarball points outside code/")
    parts = [p for p in path.parts if p != "."]
    return "/".join([CODE_DIR, *parts])


def _in_code(name: str) -> bool:
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    return bool(parts) and parts[0] == CODE_DIR


def _copy(src: tarfile.TarFile, dst: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
    member.name = name
    if member.isfile():
        dst.addfile(member, src.extractfile(member))
    elif member.isdir() or member.issym():
        dst.addfile(member)
    # hard links, devices and fifos have no place in a model archive: left out


def repack_stream(model: IO[bytes], code: IO[bytes], out: IO[bytes]) -> int:
    """Write to `out` the model archive's members except code/, then the code's under code/."""
    members = 0
    gz = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0)
    with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as dst:
        try:
            with tarfile.open(fileobj=model, mode="r|gz") as trained:
                for member in trained:
                    if not _in_code(member.name):
                        _copy(trained, dst, member, member.name)
                        members += 1
        except (tarfile.TarError, OSError, EOFError) as err:
            raise RepackError(f"the trained model.tar.gz is not a gzip tarball: {err}") from err
        dst.addfile(_dir_info(CODE_DIR))
        try:
            with tarfile.open(fileobj=code, mode="r|gz") as source:
                for member in source:
                    name = _code_name(member.name)
                    if name != CODE_DIR:
                        _copy(source, dst, member, name)
                        members += 1
        except (tarfile.TarError, OSError, EOFError) as err:
            raise RepackError(f"source_dir: the inference code is not a gzip tarball: {err}") from err
    return members


def _dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


def _exists(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """HeadObject of a key known to be there: listing first tells "absent" from "denied"
    (HeadObject answers 403 for a missing key without an unconditioned s3:ListBucket; the
    Lambda's ListBucket is limited to the output prefix)."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents") or []
    if not any(o.get("Key") == key for o in listed):
        return None
    return dict(s3.head_object(Bucket=bucket, Key=key))


def _size_and_etag(s3: Any, uri: str, field: str, limit: int) -> str:
    bucket, key = split_s3(uri, field)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        raise RepackError(f"{field}: cannot read {uri}: {err}") from err
    size = int(head.get("ContentLength", 0))
    if size > limit:
        raise RepackError(
            f"{field}: {uri} is {size / 2**20:.0f} MiB; the platform repacks at most"
            f" {limit / 2**20:.0f} MiB (the Submit Lambda's /tmp and timeout): package the inference"
            " code into the model's code/ at training time (the bundled trainers do), or leave"
            " entry_point out"
        )
    return str(head.get("ETag", ""))


def repack_model(
    s3: Any,
    *,
    model_data: str,
    code: str,
    target: str,
    kms_key: str | None = None,
    max_model_bytes: int = MAX_MODEL_BYTES,
    tmp_dir: str | None = None,
) -> RepackResult:
    """Repack `model_data` with the code tarball `code` into `target` (all s3:// URIs)."""
    model_etag = _size_and_etag(s3, model_data, "model_data", max_model_bytes)
    code_etag = _size_and_etag(s3, code, "source_dir", MAX_CODE_BYTES)
    bucket, key = split_s3(target, "code_location")
    existing = _exists(s3, bucket, key)
    sources = {SOURCE_MODEL_META: model_etag.strip('"'), SOURCE_CODE_META: code_etag.strip('"')}
    if existing is not None and all(existing.get("Metadata", {}).get(k) == v for k, v in sources.items()):
        return RepackResult(target, adopted=True)
    model_bucket, model_key = split_s3(model_data, "model_data")
    code_bucket, code_key = split_s3(code, "source_dir")
    extra: dict[str, Any] = {"Metadata": sources, "ContentType": "application/gzip"}
    if kms_key:
        extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key)
    with tempfile.TemporaryFile(dir=tmp_dir) as out:
        trained = s3.get_object(Bucket=model_bucket, Key=model_key)["Body"]
        source = s3.get_object(Bucket=code_bucket, Key=code_key)["Body"]
        try:
            members = repack_stream(trained, source, out)
        finally:
            trained.close()
            source.close()
        out.seek(0)
        s3.upload_fileobj(out, bucket, key, ExtraArgs=extra)
    return RepackResult(target, adopted=False, members=members)
