"""`dtrain predict`'s two ways to a model: HTTP to a URL, or InvokeEndpoint to an endpoint name.

A URL is a `dtrain serve` server (or any container honouring the hosting contract): the body
goes to `<url>/invocations` as it is. A name is a SageMaker endpoint, reached through
sagemaker-runtime InvokeEndpoint with the usual AWS settings (AWS_ENDPOINT_URL for the
emulator). Either way a failure of the model is one `ModelFailed` line: SageMaker answers it
with ModelError (HTTP 424) carrying the container's status and message (SageMaker API
Reference, InvokeEndpoint: "ModelError ... OriginalStatusCode, OriginalMessage").
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from dtrain.remote.errors import EXIT_JOB, RemoteError, UsageError

# InvokeEndpoint: the container has 60 s to answer (SageMaker Developer Guide, "How Containers
# Serve Requests"); the client waits a little longer so the service's own time-out is what shows.
INVOKE_TIMEOUT_SECONDS = 70.0
# by file name ending, when --content-type is not given
CONTENT_TYPES_BY_SUFFIX = {
    ".json": "application/json",
    ".npy": "application/x-npy",
    ".csv": "text/csv",
    ".jsonl": "application/jsonlines",
}


class ModelFailed(RemoteError):
    """The model's code answered with an error status."""

    exit_code = EXIT_JOB


class EndpointNotFound(RemoteError):
    exit_code = EXIT_JOB


@dataclass(frozen=True)
class Prediction:
    body: bytes
    content_type: str


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def invocations_url(url: str) -> str:
    """`http://host:8080` -> `http://host:8080/invocations`; a URL with a path is used as given."""
    parts = urllib.parse.urlsplit(url)
    if parts.path in ("", "/"):
        return urllib.parse.urlunsplit(parts._replace(path="/invocations"))
    return url


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "").strip()[:500]


def invoke_url(url: str, body: bytes, content_type: str, accept: str | None) -> Prediction:
    target = invocations_url(url)
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(target, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_SECONDS) as reply:
            return Prediction(reply.read(), reply.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        message = _first_line(exc.read().decode("utf-8", "replace"))
        raise ModelFailed(f"{target} answered {exc.code}: {message or exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(f"cannot reach {target}: {reason}") from None


def invoke_endpoint(
    endpoint_name: str, body: bytes, content_type: str, accept: str | None, *, region: str | None = None
) -> Prediction:
    from botocore.config import Config

    from dtrain.remote.aws import AwsSession, error_code, translate_aws_errors

    session = AwsSession(region)
    # Not session.client(): its 5 s read time-out suits the control-plane calls, not a model's
    # answer, so this client gets the invocation time-out (same session, same credentials).
    with translate_aws_errors("create the sagemaker-runtime client"):
        client = session._session.client(
            "sagemaker-runtime",
            region_name=session.region,
            config=Config(
                connect_timeout=5.0,
                read_timeout=INVOKE_TIMEOUT_SECONDS,
                retries={"mode": "standard", "total_max_attempts": 2},
            ),
        )
    params = {"EndpointName": endpoint_name, "Body": body, "ContentType": content_type}
    if accept:
        params["Accept"] = accept
    with translate_aws_errors(
        f"invoke endpoint {endpoint_name}", passthrough=lambda c: c in ("ModelError", "ValidationError")
    ):
        try:
            reply = client.invoke_endpoint(**params)
        except Exception as exc:
            code = error_code(exc)
            if code == "ModelError":
                response = getattr(exc, "response", {})
                status = response.get("OriginalStatusCode", "?")
                message = _first_line(
                    str(response.get("OriginalMessage") or response.get("Error", {}).get("Message", ""))
                )
                raise ModelFailed(
                    f"endpoint {endpoint_name}: the model answered {status}: {message}"
                ) from None
            if code == "ValidationError":
                message = _first_line(str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")))
                if "not found" in message.lower():
                    raise EndpointNotFound(f"endpoint {endpoint_name}: {message}") from None
                raise UsageError(f"endpoint {endpoint_name}: {message}") from None
            raise
    return Prediction(reply["Body"].read(), str(reply.get("ContentType", "")))


def content_type_for(path: str, given: str | None) -> str:
    if given:
        return given
    for suffix, content_type in CONTENT_TYPES_BY_SUFFIX.items():
        if path.lower().endswith(suffix):
            return content_type
    known = ", ".join(CONTENT_TYPES_BY_SUFFIX)
    raise UsageError(f"--content-type: {path!r}: not guessed from the name ({known}); pass --content-type")
