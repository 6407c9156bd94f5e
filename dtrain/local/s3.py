"""The only place local mode talks to S3: channel data and source tarballs given as s3:// URIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dtrain.local.contained import strictly_inside
from dtrain.local.errors import LocalModeError


def _client(what: str, uri: str, hint: str) -> Any:
    import boto3  # the local runner works without boto3 configured until S3 is really used

    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise LocalModeError(f"{what}: {uri} needs AWS credentials and none were found; {hint}")
    return session.client("s3")


def download_prefix(uri: str, dest: Path, *, what: str, hint: str) -> Path:
    """Every object under an S3 prefix into dest, keys relative to the prefix."""
    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    client = _client(what, uri, f"or pass {hint}")
    from botocore.exceptions import BotoCoreError, ClientError

    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                if key.endswith("/"):
                    continue
                relative = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
                # S3 keeps '..' in a key as it is: a key must not write outside dest.
                target = strictly_inside(dest, relative, what=f"{what}: the object key {key!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, key, str(target))
                count += 1
    except (BotoCoreError, ClientError) as exc:
        raise LocalModeError(f"{what}: cannot download {uri}: {exc}") from None
    if count == 0:
        raise LocalModeError(f"{what}: no objects under {uri}")
    return dest


def download_object(uri: str, dest: Path, *, what: str, hint: str) -> Path:
    parsed = urlparse(uri)
    client = _client(what, uri, hint)
    from botocore.exceptions import BotoCoreError, ClientError

    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(dest))
    except (BotoCoreError, ClientError) as exc:
        raise LocalModeError(f"{what}: cannot download {uri}: {exc}") from None
    return dest
