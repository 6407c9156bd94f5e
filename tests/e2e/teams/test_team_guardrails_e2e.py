"""A team's guardrails and quota on the deployed platform (issue 29): the app synthesized with
team vision's limits (three instance types, two instances a job, a day, a 10-minute warm pool, a
quota of 3 instances) and team nlp without, deployed into the emulator with IAM enforced.

- A create past vision's limits made directly as the Submit Lambda's role (no check of ours in
  the way: what a bypassed or buggy Submit would send) is refused by the deployed TeamGuardrails
  policy with AccessDenied; the same create within the limits, and nlp's p5, are allowed.
- vision's sweep wider than its quota waits for capacity and every item succeeds, never more than
  the quota at once, while an nlp job started meanwhile is created at once.

Slow on purpose: a sweep paced by the platform's real capacity retries (30 s first wait, full
jitter). The deployment (one synth, ~20 s on 2 busy cores and cached afterwards, and one deploy)
is this package's, shared with test_teams.py (conftest.py); team_platform.TEAM_SETTINGS holds
both files' limits.
"""

from __future__ import annotations

import json
import time

import pytest

from dtrain.emulator import Emulator
from dtrain.team_names import output_id
from tests.e2e.teams.team_platform import QUOTA, XDIST_GROUP, data_bucket, team_spec
from tests.e2e.teams.team_quota_run import (
    GUARDRAIL_ROWS,
    GuardrailRow,
    own_jobs,
    run_guardrail_row,
    run_quota_sweep,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(XDIST_GROUP)]


@pytest.fixture(scope="module")
def emu(team_platform_emulator: Emulator) -> Emulator:
    return team_platform_emulator


@pytest.mark.parametrize("row", GUARDRAIL_ROWS, ids=lambda row: row.action)
def test_a_create_past_visions_guardrails_is_denied_by_the_deployed_policy(
    emu: Emulator, row: GuardrailRow
) -> None:
    # Denied by the TeamGuardrails statement of the limit (the engine's explicit deny), not by a
    # missing Allow; allowed within the limits and for the team without any.
    assert run_guardrail_row(emu, row) == (row.expected, row.statement)


def test_a_sweep_past_the_teams_quota_waits_and_every_item_succeeds(emu: Emulator) -> None:
    timeline = run_quota_sweep(emu, items=4, quota=QUOTA)
    assert timeline.execution_status == "SUCCEEDED"
    assert timeline.statuses == ["Completed"] * 4
    assert timeline.most_at_once == QUOTA  # the quota was in the way, and held
    # nlp's job, started while vision's items waited, was created without waiting for them.
    assert timeline.other_team_status == "SUCCEEDED"
    assert timeline.other_team_job_created_s is not None and timeline.other_team_started_s is not None
    assert timeline.other_team_job_created_s - timeline.other_team_started_s < 10


def test_the_sweep_driver_plays_only_the_jobs_of_its_own_executions(emu: Emulator) -> None:
    """The package's tests share one deployment (conftest.py): the jobs the sweep's driver
    completes and counts (own_jobs) are those of the executions it names, never a job another
    execution has running beside them (it once completed every job in the emulator)."""
    sfn = emu.client("stepfunctions")
    spec = json.dumps(team_spec(data_bucket(emu), "nlp", 1))
    machine = emu.output(output_id("nlp", "StateMachineArn"))
    arns = [
        sfn.start_execution(stateMachineArn=machine, name=f"own-jobs-{i}-{int(time.time())}", input=spec)[
            "executionArn"
        ]
        for i in range(2)
    ]
    first, second = (emu.jobs_of(arn) for arn in arns)
    ledger = emu.ledger()
    assert own_jobs(emu, ledger, arns[:1]) == first
    assert own_jobs(emu, ledger, arns) == first + second
    for arn in arns:
        sfn.stop_execution(executionArn=arn)
        emu.wait_execution(arn)
