"""A SageMaker job's CloudWatch log streams, merged in time order and labelled by host.

SageMaker writes one stream per host and container start to the group
`/aws/sagemaker/TrainingJobs`, named `<job>/algo-<i>-<epoch seconds>` (a spot restart on the
same host opens a new stream with a later epoch); a processing job's go to
`/aws/sagemaker/ProcessingJobs`, named the same way
(console_links.SAGEMAKER_PROCESSING_LOG_GROUP). The reader keeps a forward token per stream,
so each `poll()` returns only the lines that arrived since the last one: the same object
serves a one-shot dump and `--follow`.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dtrain.remote.aws import error_code, translate_aws_errors
from dtrain.remote.console_links import SAGEMAKER_LOG_GROUP

_HOST = re.compile(r"^(algo-\d+)(?:-\d+)?$")


@dataclass(frozen=True, order=True)
class LogLine:
    timestamp: int  # milliseconds since the epoch, as CloudWatch stores it
    host: str
    stream: str
    message: str
    job_kind: str = "training"  # or "processing": the execution's step before training

    def to_json(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "host": self.host,
            "stream": self.stream,
            "message": self.message,
            "job_kind": self.job_kind,
        }


def host_of(stream_name: str, job_name: str) -> str:
    """`<job>/algo-2-1700000000` -> `algo-2`; anything unexpected is shown as it is."""
    rest = stream_name[len(job_name) + 1 :] if stream_name.startswith(job_name + "/") else stream_name
    match = _HOST.match(rest)
    return match.group(1) if match else rest


def merge(batches: Iterable[list[LogLine]]) -> list[LogLine]:
    """Merge per-stream batches (each already in time order) into one time-ordered list."""
    return list(heapq.merge(*batches))


class JobLogReader:
    def __init__(
        self,
        logs_client: Any,
        job_name: str,
        *,
        host: str | None = None,
        group: str = SAGEMAKER_LOG_GROUP,
        job_kind: str = "training",
    ) -> None:
        self._client = logs_client
        self.job_name = job_name
        self.host = host
        self.group = group
        self.job_kind = job_kind
        self._tokens: dict[str, str | None] = {}
        self.seen_streams: set[str] = set()

    def streams(self) -> list[str]:
        """The job's stream names (for one host when asked), discovered anew on every call."""
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamNamePrefix": f"{self.job_name}/"}
        with translate_aws_errors(
            f"list the log streams of {self.job_name}", passthrough=lambda c: c == "ResourceNotFoundException"
        ):
            try:
                while True:
                    response = self._client.describe_log_streams(**kwargs)
                    names.extend(str(s["logStreamName"]) for s in response.get("logStreams", []))
                    token = response.get("nextToken")
                    if not token:
                        break
                    kwargs["nextToken"] = token
            except Exception as exc:
                # No log group yet: no job of this account has logged anything so far.
                if error_code(exc) == "ResourceNotFoundException":
                    return []
                raise
        if self.host:
            names = [n for n in names if host_of(n, self.job_name) == self.host]
        return sorted(names)

    def _read_stream(self, stream: str) -> list[LogLine]:
        host = host_of(stream, self.job_name)
        lines: list[LogLine] = []
        token = self._tokens.get(stream)
        with translate_aws_errors(f"read log stream {stream}"):
            while True:
                kwargs: dict[str, Any] = {
                    "logGroupName": self.group,
                    "logStreamName": stream,
                    "startFromHead": True,
                }
                if token:
                    kwargs["nextToken"] = token
                response = self._client.get_log_events(**kwargs)
                events = response.get("events", [])
                lines.extend(
                    LogLine(int(e["timestamp"]), host, stream, str(e["message"]).rstrip("\n"), self.job_kind)
                    for e in events
                )
                next_token = response.get("nextForwardToken")
                # CloudWatch signals the end of a stream by returning the token it was given.
                done = not events or not next_token or next_token == token
                token = next_token or token
                if done:
                    break
        self._tokens[stream] = token
        return lines

    def poll(self) -> list[LogLine]:
        """Every line not returned before, across the job's streams, in time order."""
        streams = self.streams()
        self.seen_streams.update(streams)
        return merge(self._read_stream(stream) for stream in streams)


def format_line(line: LogLine, *, width: int = 6) -> str:
    # A processing job's lines say so: they come before the training job's, from the same hosts' names.
    kind = "" if line.job_kind == "training" else f"{line.job_kind} "
    return f"[{kind}{line.host.ljust(width)}] {line.message}"
