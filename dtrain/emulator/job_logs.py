"""A job's log lines into CloudWatch Logs as SageMaker writes them: one stream per host. The
training and the processing backends both write through it."""

from __future__ import annotations

import contextlib
import time
from typing import Any


def put_job_logs(logs: Any, group: str, job: str, lines: list[tuple[str, str]]) -> None:
    """Write (host, line) pairs to `group` as SageMaker names them: one stream `<job>/<host>`."""
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    by_host: dict[str, list[str]] = {}
    for host, line in lines:
        if line:  # CloudWatch Logs rejects an empty message (PutLogEvents: min length 1)
            by_host.setdefault(host, []).append(line)
    now = int(time.time() * 1000)
    for host, messages in by_host.items():
        stream = f"{job}/{host}"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": m} for m in messages],
        )
