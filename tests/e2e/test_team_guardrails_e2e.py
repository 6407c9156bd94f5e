"""A team's guardrails and quota on the deployed platform (issue 29): the app synthesized with
team vision's limits (two instance types, a day, a 10-minute warm pool, a quota of 2 instances) and
team nlp without, deployed into the emulator with IAM enforced.

- A create past vision's limits made directly as the Submit Lambda's role (no check of ours in
  the way: what a bypassed or buggy Submit would send) is refused by the deployed TeamGuardrails
  policy with AccessDenied; the same create within the limits, and nlp's p5, are allowed.
- vision's sweep wider than its quota waits for capacity and every item succeeds, never more than
  the quota at once, while an nlp job started meanwhile is created at once.

Slow on purpose: one synth of the app with these teams (~1 min on 2 busy cores, cached by the
synth cache afterwards), one deploy, and a sweep paced by the platform's real capacity retries
(30 s first wait, full jitter), shared by the module's tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dtrain.emulator import Emulator
from tests.e2e.team_quota_run import (
    GUARDED_TEAMS,
    GUARDRAIL_ROWS,
    QUOTA,
    GuardrailRow,
    run_guardrail_row,
    run_quota_sweep,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    from dtrain.emulator.platform_app import synth_for_emulator

    assembly = synth_for_emulator(tmp_path_factory.mktemp("guarded") / "cdk.out", {"teams": GUARDED_TEAMS})
    with Emulator(
        assembly, announce=False, enforce=True, orchestration_stack="DtrainOrchestration"
    ) as emulator:
        s3 = emulator.client("s3")
        data = (
            json.loads(emulator.output("PlatformSettings"))["data_s3_uri"].removeprefix("s3://").split("/")[0]
        )
        for team in GUARDED_TEAMS:
            s3.put_object(Bucket=data, Key=f"teams/{team}/cifar10/train/part-0", Body=b"x")
        yield emulator


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
