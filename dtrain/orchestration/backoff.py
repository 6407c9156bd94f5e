"""Exponential backoff with full jitter for calls that AWS throttles (CreateTrainingJob).

CreateTrainingJob is limited to about 1 call per second per account. When many executions
submit at once, each caller sleeps a random time in [0, min(cap, base * 2**attempt)]
("full jitter"): the callers spread out instead of retrying in lockstep.
botocore's own retry modes do the same, but with a fixed base and a 20-s cap; the Lambda's
time budget and the emulator's fast tests need both configurable, so this loop replaces
botocore's retries for this one call (the client is built with retries disabled).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from dtrain.orchestration.errors import CreateThrottled

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException"}
)


@dataclass(frozen=True)
class BackoffPolicy:
    attempts: int = 8
    base_s: float = 0.5
    cap_s: float = 8.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BackoffPolicy:
        default = cls()
        return cls(
            attempts=int(environ.get("DTRAIN_THROTTLE_ATTEMPTS", default.attempts)),
            base_s=float(environ.get("DTRAIN_THROTTLE_BASE_S", default.base_s)),
            cap_s=float(environ.get("DTRAIN_THROTTLE_CAP_S", default.cap_s)),
        )

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Full-jitter sleep before retry number `attempt` (0-based)."""
        return float(rand()) * min(self.cap_s, self.base_s * 2.0**attempt)


def is_throttling(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in THROTTLING_CODES


def call_with_backoff(
    call: Callable[[], T],
    policy: BackoffPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    on_throttle: Callable[[], None] = lambda: None,
) -> T:
    """Run `call`; on throttling sleep with full jitter and try again, up to policy.attempts.
    `on_throttle` runs once per throttled try (the ThrottledCreates metric)."""
    for attempt in range(policy.attempts):
        try:
            return call()
        except ClientError as err:
            if not is_throttling(err):
                raise
            on_throttle()
            if attempt == policy.attempts - 1:
                raise CreateThrottled(f"still throttled after {policy.attempts} attempts: {err}") from err
            sleep(policy.delay(attempt, rand))
    raise AssertionError("unreachable: the loop returns or raises")


# Still failing after botocore's retries: the state machine retries Submit on SageMakerTransient.
_TRANSIENT_CODES = frozenset(
    {"InternalFailure", "InternalServerError", "ServiceUnavailable", *THROTTLING_CODES}
)


def is_transient(err: Exception) -> bool:
    if isinstance(err, ClientError):
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or err.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    return isinstance(err, ConnectionError | HTTPClientError)
