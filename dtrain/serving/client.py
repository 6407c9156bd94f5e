"""`dtrain predict`'s two ways to a model: HTTP to a URL, or InvokeEndpoint to an endpoint name.

A URL is a `dtrain serve` server (or any container honouring the hosting contract): the body
goes to `<url>/invocations` as it is. A name is a SageMaker endpoint, reached through
sagemaker-runtime InvokeEndpoint with the usual AWS settings (AWS_ENDPOINT_URL for the
emulator). Either way a failure of the model is one `ModelFailed` line: SageMaker answers it
with ModelError (HTTP 424) carrying the container's status and message (SageMaker API
Reference, InvokeEndpoint: "ModelError ... OriginalStatusCode, OriginalMessage").
"""

from __future__ import annotations

import html
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from dtrain.remote.aws import AwsSession, error_code, translate_aws_errors
from dtrain.remote.errors import EXIT_JOB, RemoteError, UsageError

# InvokeEndpoint: the container has 60 s to answer (SageMaker Developer Guide, "How Containers
# Serve Requests"); the client waits a little longer so the service's own time-out is what shows.
# It bounds the WHOLE answer (`--timeout`): a server that sends a byte now and then would
# otherwise keep a per-read socket time-out from ever firing.
INVOKE_TIMEOUT_SECONDS = 70.0
# InvokeEndpoint's Body: at most 6291456 bytes (botocore's sagemaker-runtime 2017-05-13 service
# model, shape BodyBlob, "max": 6291456); SageMaker refuses more before the model sees it.
MAX_INVOKE_BODY_BYTES = 6291456
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


class AnswerTimedOut(RemoteError):
    """No complete answer within the deadline (exit 3: the server did not answer)."""


_T = TypeVar("_T")


def within_deadline(seconds: float, what: str, call: Callable[[], _T]) -> _T:
    """`call()`'s result, or AnswerTimedOut once `seconds` have passed, whatever it is doing.

    The call runs in a daemon thread: a socket read that a trickling server keeps alive is
    left behind (the command exits right after) instead of holding the command."""
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="dtrain-predict", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise AnswerTimedOut(f"{what}: no complete answer within {seconds:g} s (--timeout)")
    if failure:
        raise failure[0]
    return outcome[0]


_TAG = re.compile(r"<[^>]*>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _first_line(text: str) -> str:
    """One readable line of an error body: an HTML page (a proxy's or a server's own error
    page, a gunicorn time-out) is reduced to its title or its text."""
    if re.search(r"<(html|body|head|title|h1|!doctype)\b", text, re.IGNORECASE):
        title = _TITLE.search(text)
        text = html.unescape(_TAG.sub(" ", title.group(1) if title else text))
        text = " ".join(text.split())
    return next((line for line in text.splitlines() if line.strip()), "").strip()[:500]


def check_url(url: str) -> str:
    """The URL, if http(s)://HOST[:PORT][/path] with nothing a request line cannot carry."""
    problem = None
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0..65535
    except ValueError as exc:
        problem = str(exc)
    else:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "must be http(s)://HOST[:PORT][/PATH]"
        elif any(ord(c) < 33 or ord(c) == 127 for c in url):
            problem = "must not contain spaces or control characters"
    if problem:
        raise UsageError(f"ENDPOINT_OR_URL: {url!r}: {problem}")
    return url


def check_header(option: str, value: str | None) -> None:
    """An HTTP header value: visible ASCII and spaces only (RFC 9110 field-value, no CR/LF)."""
    if value is not None and (not value.strip() or any(not 32 <= ord(c) < 127 for c in value)):
        raise UsageError(f"{option}: {value!r}: must be a media type such as application/json")


def _send(request: urllib.request.Request, target: str, size: int, seconds: float) -> Prediction:
    try:
        with urllib.request.urlopen(request, timeout=seconds) as reply:
            return Prediction(reply.read(), reply.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        message = _first_line(exc.read().decode("utf-8", "replace"))
        if exc.code == 413:
            raise UsageError(
                f"{target} refused the {_size(size)} body as too large (413): {message or exc.reason}"
            ) from None
        raise ModelFailed(f"{target} answered {exc.code}: {message or exc.reason}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (BrokenPipeError, ConnectionResetError)) and size > MAX_INVOKE_BODY_BYTES:
            raise UsageError(
                f"{target} closed the connection while the {_size(size)} body was sent: more than it "
                f"accepts (a SageMaker endpoint takes at most {_size(MAX_INVOKE_BODY_BYTES)} per request)"
            ) from None
        if isinstance(reason, TimeoutError):
            raise AnswerTimedOut(f"{target}: no answer within {seconds:g} s (--timeout)") from None
        raise RemoteError(f"cannot reach {target}: {reason}") from None


def _size(count: int) -> str:
    return f"{count / 1048576:.1f} MiB" if count >= 1048576 else f"{count} bytes"


def invoke_url(
    url: str, body: bytes, content_type: str, accept: str | None, *, timeout: float = INVOKE_TIMEOUT_SECONDS
) -> Prediction:
    target = invocations_url(check_url(url))
    check_header("--content-type", content_type)
    check_header("--accept", accept)
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(target, data=body, headers=headers, method="POST")
    return within_deadline(timeout, target, lambda: _send(request, target, len(body), timeout))


def invoke_endpoint(
    endpoint_name: str,
    body: bytes,
    content_type: str,
    accept: str | None,
    *,
    region: str | None = None,
    timeout: float = INVOKE_TIMEOUT_SECONDS,
) -> Prediction:
    check_header("--content-type", content_type)
    check_header("--accept", accept)
    if len(body) > MAX_INVOKE_BODY_BYTES:
        raise UsageError(
            f"FILE: {_size(len(body))}: more than InvokeEndpoint takes ({_size(MAX_INVOKE_BODY_BYTES)}, "
            "6291456 bytes); use batch transform or asynchronous inference for larger inputs"
        )
    return within_deadline(
        timeout,
        f"endpoint {endpoint_name}",
        lambda: _invoke_endpoint(endpoint_name, body, content_type, accept, region=region, timeout=timeout),
    )


def _invoke_endpoint(
    endpoint_name: str,
    body: bytes,
    content_type: str,
    accept: str | None,
    *,
    region: str | None,
    timeout: float,
) -> Prediction:
    from botocore.config import Config

    session = AwsSession(region)
    # Not session.client(): its 5 s read time-out suits the control-plane calls, not a model's
    # answer, so this client gets the invocation time-out (same session, same credentials).
    with translate_aws_errors("create the sagemaker-runtime client"):
        client = session._session.client(
            "sagemaker-runtime",
            region_name=session.region,
            config=Config(
                connect_timeout=5.0,
                read_timeout=timeout,
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
