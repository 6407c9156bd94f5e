"""Lambda runs one invocation at a time in an execution environment and starts another for a
concurrent one, so a handler's module state is never shared by two invocations in flight. The
emulator's runtime does the same: two invocations of one function that overlapped shared the
Powertools metric set of their handler module, and one's flush iterated it while the other added
to it ("dictionary changed size during iteration", a Step Functions task failed under load)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from dtrain.emulator.shims import LambdaRuntime
from tests.emulator.inline_lambda import inline_function

# Counts a metric, then waits until the other invocation is in flight too, then flushes.
HANDLER = """from dtrain.orchestration import observability

instruments = observability.Instruments("environment-probe")
seen = []  # module state: one list per execution environment


@instruments.handler
def handler(event, context):
    seen.append(event["n"])
    observability.count(observability.Metric.SUBMISSIONS)
    event["both_in_flight"].wait(timeout=10)
    return {"seen": list(seen), "environment": id(seen)}
"""


def test_overlapping_invocations_of_a_function_run_in_environments_of_their_own(tmp_path: Path) -> None:
    runtime, fn = LambdaRuntime(workdir=tmp_path), inline_function("EnvironmentProbe", HANDLER)
    both_in_flight = threading.Barrier(2)
    results: dict[int, Any] = {}
    threads = [
        threading.Thread(
            target=lambda n=n: results.update(
                {n: runtime.invoke(fn, {"n": n, "both_in_flight": both_in_flight})}
            )
        )
        for n in (0, 1)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    (first, error_0), (second, error_1) = results[0], results[1]
    assert (error_0, error_1) == (None, None), results
    assert (first["seen"], second["seen"]) == ([0], [1])  # neither saw the other's module state
    assert first["environment"] != second["environment"]
    # Each invocation's EMF blob holds its own count only.
    group = fn.logs_backend.groups[f"/aws/lambda/{fn.function_name}"]
    messages = [e.message for s in group.streams.values() for e in s.events]
    blobs = [json.loads(m) for m in messages if '"CloudWatchMetrics"' in m]
    assert [b["Submissions"] for b in blobs] == [[1.0], [1.0]], blobs

    # A later invocation finds a warm environment (its module state kept), as Lambda reuses one.
    later, error = runtime.invoke(fn, {"n": 2, "both_in_flight": threading.Barrier(1)})
    assert error is None, later
    assert later["environment"] in (first["environment"], second["environment"])
    assert len(later["seen"]) == 2
