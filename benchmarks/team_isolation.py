"""The cross-team matrix and the team statements' mutation table (issue 29's figures): the app
with teams vision and nlp deployed into the emulator with IAM enforced, every row of
tests/e2e/teams/team_matrix.py run as vision's principal on vision's resource and on nlp's, and each
team statement removed and widened (tests/e2e/teams/test_teams.py asserts the same).

Usage: .venv/bin/python benchmarks/team_isolation.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.teams.team_matrix import (  # noqa: E402
    UNCAUGHT_REASONS,
    TeamPlatform,
    matrix_rows,
    mutation_table,
    run_row,
)
from tests.e2e.teams.team_platform import deployed_team_platform  # noqa: E402


def _denied_by(message: str) -> str:
    """The engine's reason, as the AccessDenied message words it."""
    if "explicit deny" in message:
        return "explicit Deny"
    return "no statement allows it (implicit deny)" if "because no" in message else message


def main() -> None:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load: {load} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="dtrain-teams-") as tmp:
        started = time.perf_counter()
        with deployed_team_platform(Path(tmp) / "cdk.out") as emu:
            platform = TeamPlatform.of(emu)
            print(f"synth + deploy + two waiting executions: {time.perf_counter() - started:.1f} s\n")
            table = mutation_table(platform)
            # The statements that alone allow a row on the team's own resource (their removal
            # denies it): on the other team's, nothing allows it, so these are what hold it.
            only: dict[str, list[str]] = {}
            for m in table:
                for row_id in m.removed_caught_by:
                    only.setdefault(row_id, []).append(f"{m.holder}: {m.sid}")
            print(
                "| action (vision principal) | as | own team: expected / got | other team | denied by "
                "| own allowed only by (scoped to vision) |"
            )
            print("|---|---|---|---|---|---|")
            started = time.perf_counter()
            for row in matrix_rows():
                own, cross = run_row(platform, row)
                print(
                    f"| {row.action} | {row.actor} | {row.expected_own} / {own.got} | "
                    f"{cross.got} ({cross.code}) | {_denied_by(cross.message)} "
                    f"| {'; '.join(only.get(row.id, [])) or '-'} |"
                )
            print(f"\n{len(matrix_rows())} rows x 2 decisions: {time.perf_counter() - started:.1f} s\n")
            print("| holds | statement | removed: caught by | widened to every team: caught by |")
            print("|---|---|---|---|")
            for m in table:
                removed = ", ".join(m.removed_caught_by) or (
                    "guard (Deny): removing loosens" if m.guard else UNCAUGHT_REASONS.get(m.sid, "NOT CAUGHT")
                )
                widened = ", ".join(m.widened_caught_by) or (
                    "n/a (not team-scoped)"
                    if not m.team_scoped
                    else "guard (Deny): widening tightens"
                    if m.guard
                    else "NOT CAUGHT"
                )
                print(f"| {m.holder} | {m.sid} | {removed} | {widened} |")


if __name__ == "__main__":
    main()
