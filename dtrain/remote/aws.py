"""One boto3 session per command, and the translation of botocore's failures into ours.

The region comes from `--region` or the usual AWS settings (AWS_REGION, AWS_DEFAULT_REGION,
the profile). An endpoint override (AWS_ENDPOINT_URL, as the embedded emulator sets it) is
honoured by boto3 itself, so nothing here knows whether it talks to AWS or to the emulator.
"""

from __future__ import annotations

import os
import os.path
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dtrain.remote.errors import AwsCallFailed, CredentialsMissing

# botocore's own retry mode (exponential backoff with jitter, throttling-aware) rather than a
# hand-written loop. The CLI is interactive: a server that accepts and never answers must not
# keep the user waiting, so the worst case (CONNECT/READ time-out on every attempt, plus
# standard mode's backoff of at most 2**attempt seconds between them) stays under 20 s.
# None of the calls the CLI makes is a long poll; the slowest real answers take ~1 s.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 3
# DTRAIN_AWS_TIMEOUT overrides both time-outs (tests facing a silent server; slow links).
TIMEOUT_ENV_VAR = "DTRAIN_AWS_TIMEOUT"


def client_config() -> dict[str, Any]:
    connect, read = CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
    text = os.environ.get(TIMEOUT_ENV_VAR)
    if text:
        try:
            connect = read = float(text)
        except ValueError:
            raise AwsCallFailed(f"{TIMEOUT_ENV_VAR}: {text!r}: must be a number of seconds") from None
        if not 0 < connect <= 600:
            raise AwsCallFailed(f"{TIMEOUT_ENV_VAR}: {text!r}: must be between 0 and 600 seconds")
    return {
        "retries": {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        "connect_timeout": connect,
        "read_timeout": read,
    }


NO_CREDENTIALS_HINT = (
    "no AWS credentials found: configure a profile (aws configure / AWS_PROFILE), set "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or point AWS_ENDPOINT_URL at the embedded "
    "emulator (dtrain emulate up)"
)
NO_REGION_HINT = (
    "no AWS region set: pass --region, or set AWS_REGION / AWS_DEFAULT_REGION or a profile region"
)

# Error codes that mean "who you are" rather than "what you asked": reported as credential
# problems, exit code 3.
_CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)


class AwsSession:
    """A boto3 session plus a cache of clients, created lazily (boto3 imports are slow)."""

    def __init__(self, region: str | None = None) -> None:
        # One botocore data loader per process: a fresh session re-reads and re-parses
        # endpoints.json and each service model (most of a command's own time, measured by
        # benchmarks/cli_latency.py); sessions that share the loader parse them once.
        from dtrain.orchestration.environment_clients import new_session

        with translate_aws_errors("start an AWS session"):
            self._session = new_session(region)
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str:
        with translate_aws_errors("read the AWS settings"):
            region = self._session.region_name
        if not region:
            raise CredentialsMissing(NO_REGION_HINT)
        return str(region)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            with translate_aws_errors(f"create the {service} client"):
                self._clients[service] = self._session.client(
                    service, region_name=self.region, config=Config(**client_config())
                )
        return self._clients[service]


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _raised_in_botocore(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last is not None and f"{os.path.sep}botocore{os.path.sep}" in last.tb_frame.f_code.co_filename


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or "" for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def translate_aws_errors(
    action: str, *, passthrough: Callable[[str], bool] = lambda _c: False
) -> Iterator[None]:
    """Turn botocore's credential/region/endpoint failures into one-line RemoteErrors.

    `passthrough(code)` returns True for ClientError codes the caller handles itself (for
    example ExecutionDoesNotExist when probing whether an execution exists).
    """
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if passthrough(code):
            raise
        message = _one_line(Exception(exc.response.get("Error", {}).get("Message", str(exc))))
        if code in _CREDENTIAL_ERROR_CODES:
            raise CredentialsMissing(f"AWS refused the credentials ({code}): {message}") from exc
        raise AwsCallFailed(f"cannot {action}: {code}: {message}") from exc
    except Exception as exc:
        translated = _settings_error(exc) or _endpoint_error(exc, action)
        if translated is None:
            raise
        raise translated from exc


def _settings_error(exc: Exception) -> CredentialsMissing | None:
    """What is wrong with this machine's AWS settings (credentials, region, profile), if that
    is what `exc` says."""
    from botocore.exceptions import (
        InvalidRegionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CredentialsMissing(NO_CREDENTIALS_HINT)
    if isinstance(exc, NoRegionError):
        return CredentialsMissing(NO_REGION_HINT)
    if isinstance(exc, InvalidRegionError):
        return CredentialsMissing(
            f"{getattr(exc, 'kwargs', {}).get('region_name', '')!r} is not an AWS region name "
            "(like us-east-1): check --region, AWS_REGION, AWS_DEFAULT_REGION or the profile"
        )
    if isinstance(exc, ProfileNotFound):
        return CredentialsMissing(
            f"AWS_PROFILE names {getattr(exc, 'kwargs', {}).get('profile', '')!r}, which is "
            "not in ~/.aws/config or ~/.aws/credentials"
        )
    return None


_NOT_AN_AWS_REPLY = "the endpoint's reply is not an AWS API response (is AWS_ENDPOINT_URL an AWS endpoint?)"


def _endpoint_error(exc: Exception, action: str) -> AwsCallFailed | None:
    """Why `action` got no usable answer from the endpoint, if that is what `exc` says; None for
    anything else (a bug of ours among them), which is raised as it is."""
    from botocore.exceptions import (
        BotoCoreError,
        ConnectTimeoutError,
        EndpointConnectionError,
        HTTPClientError,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        return AwsCallFailed(
            f"cannot {action}: no answer from {endpoint} in time (gave up after {MAX_ATTEMPTS} tries)"
        )
    if isinstance(exc, EndpointConnectionError | HTTPClientError | BotoCoreError):
        return AwsCallFailed(f"cannot {action}: {_one_line(exc)}")
    if isinstance(exc, ResponseParserError):
        return AwsCallFailed(f"cannot {action}: {_NOT_AN_AWS_REPLY}")
    if isinstance(exc, KeyError | TypeError | AttributeError):
        # botocore's parsers fail this way on a well-formed HTTP reply that is not an AWS
        # response (an HTML page, another service's JSON); a bug of ours still raises.
        return AwsCallFailed(f"cannot {action}: {_NOT_AN_AWS_REPLY}") if _raised_in_botocore(exc) else None
    if isinstance(exc, ValueError) and "endpoint" in str(exc).lower():
        # botocore raises a bare ValueError for an endpoint URL it cannot use.
        return AwsCallFailed(
            f"cannot {action}: {_one_line(exc)} (AWS_ENDPOINT_URL must be like http://127.0.0.1:4599)"
        )
    return None
