"""A burst of executions against a CreateTrainingJob limited to 1 call per second.

The 100-execution run is benchmarks/load_100.py (about two minutes); this keeps the same
property in the suite at a size CI affords.
"""

from __future__ import annotations

from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator.scenarios import burst


@pytest.mark.slow
def test_burst_under_throttling_gives_every_execution_exactly_one_job(
    emulator: Emulator, make_spec: Any
) -> None:
    report = burst(emulator, make_spec(), executions=6, rate_per_s=1.0, timeout_s=240)
    assert report.statuses == {"SUCCEEDED": 6}
    assert report.exactly_one_job_each, report
    assert report.create_calls_refused > 0  # the throttle was really in the way
    assert report.wall_s >= 5.0  # six creates cannot pass a 1-per-second limit faster
