"""Issue 26's fault matrix (tests/e2e/fault_rows.py): every row ends as it should and leaves
nothing running; no state passes Step Functions' 256 KiB on the way (the payload meter)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dtrain.emulator import Emulator
from tests.e2e import fault_rows

pytestmark = pytest.mark.slow  # each row runs whole executions (training played, serving real)


@pytest.fixture
def meter(emulator: Emulator) -> Iterator[Any]:
    emulator.behaviour.payloads.reset()
    yield emulator.behaviour.payloads
    assert emulator.behaviour.payloads.exceeded == []


def test_row_sns_throttle_does_not_fail_a_run_that_succeeded(emulator: Emulator, meter: Any) -> None:
    row = fault_rows.row_sns_throttle(emulator)
    assert row.statuses == ["SUCCEEDED"], row.detail
    assert row.detail["throttles_served"] == 2 and row.left_running == []


def test_row_a_fixed_transform_job_name_serves_every_execution(emulator: Emulator, meter: Any) -> None:
    row = fault_rows.row_names_reused(emulator)
    assert row.statuses == ["SUCCEEDED", "SUCCEEDED"]
    first, second = row.detail["transform_jobs"]
    assert first != second and first.startswith("dtrain-nightly-") and second.startswith("dtrain-nightly-")
    assert row.left_running == []


def test_row_abort_while_the_endpoint_is_creating_leaves_no_endpoint(emulator: Emulator, meter: Any) -> None:
    row = fault_rows.row_abort_while_creating(emulator)
    assert row.statuses == ["ABORTED"]
    assert row.detail["endpoint_row_after_abort"] == ["Stopping"]  # deletion asked for, not forgotten
    assert row.left_running == []


def test_row_abort_while_the_endpoint_is_updating_leaves_it_serving_and_nothing_running(
    emulator: Emulator, meter: Any
) -> None:
    row = fault_rows.row_abort_while_updating(emulator)
    assert row.statuses == ["SUCCEEDED", "ABORTED"]
    assert row.detail["endpoint_during_abort"] == "Updating"
    # The update was not cancelled (no call does) and the serving endpoint was not deleted: it
    # serves the update's model (y = 3x), and the aborted execution's row ended.
    assert row.detail["endpoint_after"] == "InService" and row.detail["served_y_for_x_1"] == 3, row.detail
    assert row.detail["endpoint_row_settled"] == ["Completed"], row.detail
    assert row.left_running == []


def test_row_deploy_to_a_failed_endpoint_replaces_it(emulator: Emulator, meter: Any) -> None:
    row = fault_rows.row_update_of_a_failed_endpoint(emulator)
    assert row.statuses == ["SUCCEEDED"], row.detail
    assert row.detail["endpoint_after"] == "InService" and '"y": 10' in row.detail["served"]
    assert row.left_running == []


def test_row_a_sweep_wider_than_the_quota_waits_for_capacity(emulator: Emulator, meter: Any) -> None:
    """Quota waits: every item finishes, bounded by capacity (two at a time), none failed."""
    row = fault_rows.row_quota_below_the_sweep_width(emulator)
    assert row.statuses == ["SUCCEEDED"]
    assert row.detail["items_completed"] == 6 and row.detail["most_jobs_at_once"] <= 2
    assert row.detail["refused_creates"] > 0  # the quota was really in the way
    assert row.left_running == []


def test_row_a_job_stopped_at_max_run_keeps_its_model(emulator: Emulator, meter: Any) -> None:
    row = fault_rows.row_max_runtime(emulator)
    assert row.statuses == ["SUCCEEDED"], row.detail
    assert row.detail["model_usable"] is True and row.detail["model_artifact"]
    assert row.left_running == []


def test_row_an_experiment_nothing_created_is_created_before_the_sweeps_jobs(
    emulator: Emulator, meter: Any
) -> None:
    row = fault_rows.row_experiment_nothing_creates(emulator)
    assert row.statuses == ["SUCCEEDED"], row.detail
    assert row.detail["experiment"] == "fm-new-experiment"
    assert row.detail["runs"] == [f"fm-new-experiment-trial-{i}" for i in range(3)]
    assert row.detail["items_completed"] == 3
    assert row.detail["refused_creates"] == 0  # no job was refused for its experiment
    assert row.left_running == []
