"""Scenarios the benchmarks and tests share: a burst of executions against a throttled API."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from dtrain.emulator.core import Emulator


@dataclass(frozen=True)
class LoadReport:
    executions: int
    rate_per_s: float
    wall_s: float
    statuses: dict[str, int]
    jobs_created: int
    jobs_per_execution: dict[int, int]  # jobs per execution -> how many executions
    create_calls_refused: int

    @property
    def exactly_one_job_each(self) -> bool:
        return self.jobs_per_execution == {1: self.executions} and self.jobs_created == self.executions


def burst(
    emu: Emulator, spec: dict[str, Any], *, executions: int, rate_per_s: float, timeout_s: float
) -> LoadReport:
    """Start `executions` at once with CreateTrainingJob limited to `rate_per_s`; jobs complete
    shortly after they are created. Returns when every execution has ended."""
    backend = emu.sagemaker
    backend.throttle.rate_per_s = rate_per_s
    refused_before = backend.throttle.refused
    jobs_before = len(backend.jobs)
    backend.auto_complete_after_s = 0.2
    try:
        start = time.perf_counter()
        arns = [emu.start_execution(spec, name=f"load-{i:03d}-{int(start)}") for i in range(executions)]
        deadline = time.monotonic() + timeout_s
        statuses = [
            emu.wait_execution(arn, timeout=max(1.0, deadline - time.monotonic()))["status"] for arn in arns
        ]
        wall = time.perf_counter() - start
    finally:
        backend.auto_complete_after_s = None
        backend.throttle.rate_per_s = None
    ledger = emu.ledger()
    per_execution = Counter(len(ledger.find_by_execution(arn)) for arn in arns)
    return LoadReport(
        executions=executions,
        rate_per_s=rate_per_s,
        wall_s=wall,
        statuses=dict(Counter(statuses)),
        jobs_created=len(backend.jobs) - jobs_before,
        jobs_per_execution=dict(per_execution),
        create_calls_refused=backend.throttle.refused - refused_before,
    )
