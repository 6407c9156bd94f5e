"""One boto3 session per command, and the translation of botocore's failures into ours.

The region comes from `--region` or the usual AWS settings (AWS_REGION, AWS_DEFAULT_REGION,
the profile). An endpoint override (AWS_ENDPOINT_URL, as the embedded emulator sets it) is
honoured by boto3 itself, so nothing here knows whether it talks to AWS or to the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dtrain.remote.errors import AwsCallFailed, CredentialsMissing

# botocore's own retry mode (exponential backoff with jitter, throttling-aware) rather than a
# hand-written loop; the CLI is interactive, so time-outs stay short.
_CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 5},
    "connect_timeout": 5,
    "read_timeout": 30,
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


_shared_loader: Any = None


def _data_loader() -> Any:
    """One botocore data loader per process: it caches the parsed service models and endpoints.

    A fresh botocore session re-reads and re-parses endpoints.json and each service model
    (most of a command's own time, measured by benchmarks/cli_latency.py); sessions that share
    the loader parse them once. The loader holds only AWS's static model files, no credentials.
    """
    global _shared_loader
    if _shared_loader is None:
        from botocore.loaders import create_loader

        _shared_loader = create_loader()
    return _shared_loader


class AwsSession:
    """A boto3 session plus a cache of clients, created lazily (boto3 imports are slow)."""

    def __init__(self, region: str | None = None) -> None:
        import boto3
        import botocore.session

        loader = _data_loader()
        core = botocore.session.get_session()
        core.register_component("data_loader", loader)
        self._session = boto3.session.Session(botocore_session=core, region_name=region)
        # boto3 appends its own data folder to the loader's search path on every session.
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str:
        region = self._session.region_name
        if not region:
            raise CredentialsMissing(NO_REGION_HINT)
        return str(region)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            with translate_aws_errors(f"create the {service} client"):
                self._clients[service] = self._session.client(
                    service, region_name=self.region, config=Config(**_CLIENT_CONFIG)
                )
        return self._clients[service]


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
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CredentialsMissing(NO_CREDENTIALS_HINT) from exc
    except NoRegionError as exc:
        raise CredentialsMissing(NO_REGION_HINT) from exc
    except EndpointConnectionError as exc:
        raise AwsCallFailed(f"cannot {action}: {exc}") from exc
    except ClientError as exc:
        code = error_code(exc)
        if passthrough(code):
            raise
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code in _CREDENTIAL_ERROR_CODES:
            raise CredentialsMissing(f"AWS refused the credentials ({code}): {message}") from exc
        raise AwsCallFailed(f"cannot {action}: {code}: {message}") from exc
