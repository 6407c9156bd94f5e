"""ONE deployment of the app with teams (team_platform.TEAM_SETTINGS) for every test of this
package: test_teams.py (the cross-team matrix, the CLI as a team's scientist) and
test_team_guardrails_e2e.py (the guardrail rows, the sweep past vision's quota) used to
synthesize and deploy a platform each (~20 s synth on a cold cache, ~6 s deploy, 2 busy cores).

`package` scope: the emulator closes when the run leaves this package (see __init__.py), and
both files name one xdist group (team_platform.XDIST_GROUP), so under `--dist loadgroup` they run on one
worker, one after the other, and share it. What one file leaves behind must not change the
other's results: test_teams.py stops its waiting executions when its module ends, and the
quota sweep plays only its own executions' jobs and starts once vision's quota holds nothing
(team_quota_run.py), whichever file runs first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dtrain.emulator import Emulator
from tests.e2e.teams.team_platform import deployed_team_platform


@pytest.fixture(scope="package")
def team_platform_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with deployed_team_platform(tmp_path_factory.mktemp("teams") / "cdk.out") as emu:
        yield emu
