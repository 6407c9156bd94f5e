"""Issue 29's guardrail and quota figures, on the deployed platform with IAM enforced: the team's
guardrail rows (direct creates as the Submit role), then team vision's sweep wider than its quota.

    .venv/bin/python benchmarks/team_quota_wait.py [--items 4] [--quota 3] [--run-s 1]

Synthesizes the app with team vision (tests/e2e/teams/team_platform.TEAM_SETTINGS' limits,
quota_instances = --quota) and team nlp (no limits), deploys it into the emulator with IAM
enforced, and runs a sweep of --items one-instance items on vision's state machine
(tests/e2e/teams/team_quota_run.py: jobs complete after --run-s; an nlp job is
started while vision is at its quota). Prints the timeline (each job's creation and completion,
seconds from the start), the items' statuses, the most vision jobs at once, how long nlp's job
waited, and the machine's load. The waits are the platform's real capacity retries (30 s first
wait, backoff 2 with full jitter, capped at 5 min), so the wall time varies run to run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.teams.team_platform import QUOTA, TEAM_SETTINGS, deployed_team_platform  # noqa: E402
from tests.e2e.teams.team_quota_run import (  # noqa: E402
    GUARDRAIL_ROWS,
    run_guardrail_row,
    run_quota_sweep,
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("--quota", type=int, default=QUOTA)
    parser.add_argument("--run-s", type=float, default=1.0)
    args = parser.parse_args()
    teams = {**TEAM_SETTINGS, "vision": {**TEAM_SETTINGS["vision"], "quota_instances": args.quota}}
    with tempfile.TemporaryDirectory() as tmp, deployed_team_platform(Path(tmp) / "cdk.out", teams) as emu:
        guardrails = [(row, run_guardrail_row(emu, row)) for row in GUARDRAIL_ROWS]
        timeline = run_quota_sweep(emu, items=args.items, quota=args.quota, run_s=args.run_s)
    print("CreateTrainingJob made directly as the Submit Lambda's role (policy engine, IAM enforced):")
    print(f"{'action':<45} {'expected':<13} {'got':<13} denied by")
    for row, (got, statement) in guardrails:
        print(f"{row.action:<45} {row.expected:<13} {got:<13} {statement or '-'}")
    print()
    print(f"team vision: quota {timeline.quota} instances, sweep of {timeline.items} one-instance items")
    print(f"{'job':<60} {'created s':>9} {'completed s':>11}")
    for name, created, completed in timeline.rows():
        print(f"{name:<60} {created:>9} {completed:>11}")
    print(f"sweep: {timeline.execution_status}, items {timeline.statuses}")
    print(f"most vision jobs at once: {timeline.most_at_once} (quota {timeline.quota})")
    if timeline.other_team_started_s is not None and timeline.other_team_job_created_s is not None:
        waited = timeline.other_team_job_created_s - timeline.other_team_started_s
        print(
            f"team nlp's job, started at {timeline.other_team_started_s:.1f} s while vision waited: "
            f"created {waited:.1f} s later, {timeline.other_team_status}"
        )
    print(f"wall {timeline.wall_s:.1f} s; load {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    return 0 if timeline.execution_status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
