"""Structured logs, CloudWatch metrics and X-Ray traces of the orchestration Lambdas, through
Powertools for AWS Lambda (Python).

Each function's handler module makes one `Instruments` with its service name and wraps its
handler in `instruments.handler`. The logic in dtrain/orchestration reports through `correlate`
and `count`, which act on the instruments of the invocation in progress (a context variable:
the emulator runs every function's handler in one process, concurrently and nested). Outside
an invocation they do nothing.

- Logs: one JSON record per line on stdout (Lambda sends it to the function's log group; outside
  Lambda on stderr, see _Output),
  with the service, the Lambda context (function, request id, cold start) and the correlation
  keys of `correlate` (execution name, job name, item index). The records of the
  `dtrain.orchestration` modules' own loggers are written by the same handler.
- Metrics: CloudWatch embedded metric format (EMF), one JSON blob per invocation that counted
  something, written like the logs; CloudWatch Logs extracts the metrics from the log group, so no
  PutMetricData call and no IAM permission is needed ("Using the embedded metric format with
  Lambda", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html).
  Namespace from POWERTOOLS_METRICS_NAMESPACE (the stack sets it), dimension `service`.
- Traces: Tracer records the handler as a subsegment and patches botocore only (every AWS call
  the functions make is a botocore call), where the function runs with X-Ray active tracing.
  Responses are never captured: Prepare returns whole job requests, and the state machine keeps
  payloads out of its logs for the same reason. Outside Lambda (tests, the emulator) Tracer is
  a no-op. POWERTOOLS_TRACE_DISABLED=true (the stack sets it when the functions' tracing is off)
  leaves Tracer out altogether: a disabled Tracer still imports the X-Ray SDK (and wrapt), which
  is most of what it costs a cold start (benchmarks/lambda_cold_init.py).
"""

from __future__ import annotations

import contextvars
import functools
import io
import json
import logging
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import IO, Any, TextIO, TypeVar, cast

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from dtrain.orchestration.log_delivery import current_sink

NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
TRACE_DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"
DEFAULT_NAMESPACE = "dtrain"
# The modules whose AWS calls become X-Ray subsegments: boto3 is botocore underneath.
TRACED_MODULES = ("botocore",)
# The loggers of the Lambda logic (logging.getLogger(__name__) in dtrain/orchestration/*).
LOGIC_LOGGER = "dtrain.orchestration"


class Metric(StrEnum):
    """Every metric the functions emit (count, unit Count). The stack's dashboard
    (stacks/orchestration/lambda_environment.METRICS) names the same ones; a test keeps them equal."""

    SUBMISSIONS = "Submissions"  # a Submit that left its item with a job (created or adopted)
    ADOPTIONS = "Adoptions"  # of those, the ones that adopted the job of an earlier attempt
    THROTTLED_CREATES = "ThrottledCreates"  # a Create* call answered with throttling (each try)
    TOKENS_ANSWERED = "TokensAnswered"  # a task token answered with its job's outcome


class _Output(io.TextIOBase):
    """In Lambda stdout, which Lambda sends to CloudWatch Logs (EMF is extracted from there).
    Elsewhere stderr, where Python's logging writes: the emulator runs the handlers inside the
    CLI's own process, whose stdout is the command's output (`--json`); there the emulator sets a
    sink per invocation (log_delivery) that plays Lambda's part and writes to the function's log
    group. Looked up at each write, not at import: Lambda's runtime and pytest's capture may
    replace sys.stdout/stderr later."""

    @staticmethod
    def stream() -> TextIO:
        return sys.stdout if os.environ.get("LAMBDA_TASK_ROOT") else sys.stderr

    def write(self, text: str) -> int:
        sink = current_sink()
        if sink is not None:
            sink(text)
            return len(text)
        return self.stream().write(text)

    def flush(self) -> None:
        self.stream().flush()


_OUTPUT = _Output()


_current: contextvars.ContextVar[Instruments | None] = contextvars.ContextVar("instruments", default=None)
H = TypeVar("H", bound=Callable[[Any, Any], Any])


class Instruments:
    """Logger, metrics and tracer of one function (service), made once per cold start."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.logger = Logger(service=service, stream=cast(IO[str], _OUTPUT))
        self.logger.append_keys(name="%(name)s")  # which module logged: the handler or the logic
        self.metrics = EphemeralMetrics(service=service, namespace=DEFAULT_NAMESPACE)
        self.tracer = None if tracing_disabled() else Tracer(service=service, patch_modules=TRACED_MODULES)
        _route_logic_logs()

    def handler(self, fn: H) -> H:
        traced = self.tracer.capture_lambda_handler(fn, capture_response=False) if self.tracer else fn

        @functools.wraps(fn)
        def invoke(event: Any, context: Any) -> Any:
            outer = _current.set(self)
            saved_keys = self.logger.thread_safe_get_current_keys()
            self.logger.thread_safe_clear_keys()
            # Read per invocation: the emulator applies a function's environment after loading it.
            self.metrics.namespace = os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE
            try:
                return traced(event, context)
            finally:
                # Flushed on failure too: a Submit that ends CreateThrottled counted its throttles.
                if self.metrics.metric_set:
                    blob = self.metrics.serialize_metric_set()
                    self.metrics.clear_metrics()
                    _OUTPUT.write(json.dumps(blob, separators=(",", ":")) + "\n")
                self.logger.thread_safe_clear_keys()
                self.logger.thread_safe_append_keys(**saved_keys)
                _current.reset(outer)

        return cast(H, self.logger.inject_lambda_context(invoke))


def tracing_disabled() -> bool:
    return os.environ.get(TRACE_DISABLED_ENV, "false").strip().lower() in ("1", "true")


def current() -> Instruments | None:
    return _current.get()


def correlate(**keys: object) -> None:
    """Add keys (execution_name, job_name, item_index) to every later log record of this
    invocation, and as X-Ray annotations (searchable) to its trace. None and "" are skipped."""
    instruments = _current.get()
    known = {name: value for name, value in keys.items() if value is not None and value != ""}
    if instruments is None or not known:
        return
    instruments.logger.thread_safe_append_keys(**known)
    for name, value in known.items():
        if instruments.tracer is not None:
            instruments.tracer.put_annotation(name, str(value))


def count(metric: Metric, value: int = 1) -> None:
    """Add `value` to `metric` in this invocation's EMF blob."""
    instruments = _current.get()
    if instruments is not None:
        instruments.metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


class _ToInvocationLogger(logging.Handler):
    """Writes a dtrain.orchestration record with the handler (JSON formatter, correlation keys)
    of the function whose invocation logged it; outside an invocation, as before (root)."""

    def emit(self, record: logging.LogRecord) -> None:
        instruments = _current.get()
        if instruments is None:
            logging.getLogger().handle(record)
            return
        handler = instruments.logger.logger_handler
        if record.levelno >= handler.level:
            handler.handle(record)


def _route_logic_logs() -> None:
    logic = logging.getLogger(LOGIC_LOGGER)
    if not any(isinstance(h, _ToInvocationLogger) for h in logic.handlers):
        logic.addHandler(_ToInvocationLogger())
        logic.propagate = False
    if logic.level == logging.NOTSET:
        logic.setLevel(logging.INFO)
