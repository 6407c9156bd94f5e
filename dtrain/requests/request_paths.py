"""What every request builder names a job's S3 paths and ledger identity with: the training,
processing and hosting requests share these (one source; they sat in the training request
module and made the processing request import it back)."""

from __future__ import annotations

import json
import re

from dtrain.jobspec.naming import identity_digest
from dtrain.jobspec.spec import JobSpec


def s3_path_join(*parts: str) -> str:
    """SDK v2's s3_path_join for `s3://` bases: no doubled or trailing slashes."""
    joined = "/".join(p for p in parts if p)
    body = joined[len("s3://") :] if joined.startswith("s3://") else joined
    body = re.sub("/+", "/", body).strip("/")
    return f"s3://{body}" if joined.startswith("s3://") else body


def spec_digest(spec: JobSpec) -> str:
    """Stable digest of the spec's content (key order ignored): names and ledger rows use it."""
    return identity_digest(json.dumps(spec.raw, sort_keys=True, default=str))
