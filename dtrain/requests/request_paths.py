"""How every request builder joins a job's S3 paths: the training, processing and hosting
requests share it (one source; it sat in the training request module and made the processing
request import it back). The spec digest their default names use is dtrain.jobspec.digests'."""

from __future__ import annotations

import re


def s3_path_join(*parts: str) -> str:
    """SDK v2's s3_path_join for `s3://` bases: no doubled or trailing slashes."""
    joined = "/".join(p for p in parts if p)
    body = joined[len("s3://") :] if joined.startswith("s3://") else joined
    body = re.sub("/+", "/", body).strip("/")
    return f"s3://{body}" if joined.startswith("s3://") else body
