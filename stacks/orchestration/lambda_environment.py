"""Lambda's limit on a function's environment, checked at synth.

"Function environment variables: 4 KB, for all environment variables associated with the
function, in aggregate" (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
DTRAIN_PLATFORM carries the configured tags and environment, so it grows with them; a deploy
over the limit fails in CloudFormation, long after synth. Values that are still CDK tokens
(ARNs, names, ids) are counted at a pessimistic length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096
# A resolved ARN / bucket name / id: generous for this platform's resources.
TOKEN_BUDGET_BYTES = 160
_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")


def estimated_size(value: str) -> int:
    return len(_TOKEN.sub("x" * TOKEN_BUDGET_BYTES, value).encode("utf-8"))


def environment_size(variables: Mapping[str, object]) -> int:
    """Bytes of all names and values, tokens at TOKEN_BUDGET_BYTES each."""
    total = 0
    for name, value in variables.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        total += len(name.encode("utf-8")) + estimated_size(text)
    return total


def check_environment(function: str, variables: Mapping[str, object]) -> int:
    size = environment_size(variables)
    if size > LAMBDA_ENVIRONMENT_LIMIT_BYTES:
        raise ValueError(
            f"tags/environment: the {function} Lambda's environment would be about {size} bytes, over "
            f"Lambda's {LAMBDA_ENVIRONMENT_LIMIT_BYTES}-byte limit (DTRAIN_PLATFORM carries the configured "
            "tags and environment: configure fewer or shorter ones)"
        )
    return size


# -- Powertools for AWS Lambda (dtrain/orchestration/observability.py): the same for every function.
# The service name is each function's lambda/<folder> name, fixed in its handler (Instruments(...)):
# a property of the code, and the emulator runs every handler in one process with one environment.
METRICS_NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"


def metrics_namespace(stack_name: str) -> str:
    """One namespace per deployed platform: two stacks in one account keep their metrics apart."""
    return f"dtrain/{stack_name}"


def observability_environment(
    *, namespace: str, tracing_active: bool, log_level: str = "INFO"
) -> dict[str, str]:
    """POWERTOOLS_LOG_LEVEL is the current name of Powertools' LOG_LEVEL. Tracing off (no X-Ray
    daemon to send to): Tracer becomes a no-op instead of logging a missing segment per call."""
    return {
        METRICS_NAMESPACE_ENV: namespace,
        "POWERTOOLS_LOG_LEVEL": log_level,
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing_active else "true",
    }
