"""Remote commands against bad AWS settings and hostile endpoints: one line, exit 3, bounded.

The servers are local sockets on free ports; DTRAIN_AWS_TIMEOUT shortens the time-outs so the
silent server costs a second, and `test_default_timeouts_bound_a_silent_server` pins that the
defaults give up within 20 s (benchmarks/hostile_failures.py measures it).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dtrain.ports import free_port
from tests.hostile.support import HostileServer, Outcome

REMOTE_COMMANDS = [("list",), ("status", "some-job"), ("logs", "some-job"), ("stop", "some-job")]


@pytest.mark.parametrize("command", REMOTE_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"AWS_ENDPOINT_URL": "notaurl"}, "AWS_ENDPOINT_URL"),
        ({"AWS_ENDPOINT_URL": "http://"}, "AWS_ENDPOINT_URL"),
        ({"AWS_DEFAULT_REGION": "not/a/region"}, "not an AWS region"),
        ({"AWS_PROFILE": "nope"}, "'nope'"),
        ({"AWS_DEFAULT_REGION": ""}, "no AWS region"),
        ({"DTRAIN_AWS_TIMEOUT": "soon"}, "DTRAIN_AWS_TIMEOUT"),
    ],
    ids=[
        "endpoint-not-url",
        "endpoint-no-host",
        "region-invalid",
        "profile-missing",
        "region-none",
        "timeout-not-number",
    ],
)
def test_bad_aws_settings_are_one_line_exit_3(
    cli: Callable[..., Outcome], command: tuple[str, ...], env: dict[str, str], needle: str
) -> None:
    cli(*command, extra_env=env).one_line_error(3, f"dtrain {command[0]}:", needle)


def test_region_flag_invalid_is_one_line_exit_3(cli: Callable[..., Outcome]) -> None:
    cli("list", "--region", "not a region").one_line_error(3, "'not a region'", "not an AWS region")


@pytest.mark.parametrize("command", REMOTE_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("close", "cannot"),
        ("garbage", "cannot"),
        ("html", "not an AWS API response"),
        ("silent", "no answer from"),
    ],
)
def test_hostile_endpoint_is_one_line_exit_3(
    cli: Callable[..., Outcome],
    hostile_server: Callable[[str], HostileServer],
    command: tuple[str, ...],
    mode: str,
    needle: str,
) -> None:
    server = hostile_server(mode)
    outcome = cli(*command, extra_env={"AWS_ENDPOINT_URL": server.url, "DTRAIN_AWS_TIMEOUT": "0.3"})
    outcome.one_line_error(3, f"dtrain {command[0]}:", needle)


def test_dead_endpoint_is_one_line_exit_3(cli: Callable[..., Outcome]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    cli("list", extra_env={"AWS_ENDPOINT_URL": url}).one_line_error(3, "dtrain list:", "127.0.0.1")


def test_missing_profile_in_a_bare_environment_exits_3_from_a_process(
    cli_process: Callable[..., Outcome],
) -> None:
    # The issue's own reproduction: env -i with only PATH, HOME, AWS_PROFILE, a region.
    outcome = cli_process("list", extra_env={"AWS_PROFILE": "nope"})
    outcome.one_line_error(3, "dtrain list:", "'nope'")


def test_default_timeouts_bound_a_silent_server() -> None:
    """Worst case with the defaults: every attempt times out, standard mode backs off between
    attempts (at most 2**attempt s each, botocore.retries.standard.ExponentialBackoff)."""
    from dtrain.remote.aws import MAX_ATTEMPTS, client_config

    config = client_config()
    per_attempt = config["connect_timeout"] + config["read_timeout"]
    backoff = sum(2**attempt for attempt in range(MAX_ATTEMPTS - 1))
    assert config["retries"] == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}
    # An accepted connection that never answers costs the read time-out per attempt.
    assert config["read_timeout"] * MAX_ATTEMPTS + backoff <= 20
    assert (
        per_attempt * MAX_ATTEMPTS <= 30
    )  # connect never succeeds AND reads never answer: impossible together
