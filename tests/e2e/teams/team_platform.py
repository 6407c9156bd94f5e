"""The platform with teams the team tests share (tests/e2e/teams/conftest.py deploys it once) and
the benchmarks deploy on their own: its teams, their settings, and the synth + deploy.

One settings table serves both files: team vision has every guardrail the tests exercise (an
instance-type allow-list, an instance count, a run-time and warm-pool limit and a quota of
QUOTA instances), team nlp has none. test_teams.py's matrix and allow-list test need vision's
types (ml.g5.12xlarge for training, ml.m5.xlarge for processing) and nothing its jobs break (one
instance each, an hour, no warm pool); test_team_guardrails_e2e.py's rows need ml.g5.xlarge and
the limits they cross, and its sweep needs the quota.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dtrain.emulator import Emulator

ORCHESTRATION = "DtrainOrchestration"
# The files that share the deployment run on one pytest-xdist worker (tests/conftest.py makes
# each file a group of its own otherwise, and each worker would deploy it).
XDIST_GROUP = "e2e-teams"
TEAMS = ("vision", "nlp")
# vision's quota_instances: the sweep (4 one-instance items) is wider than this. 3, not 2:
# test_teams.py runs a 2-instance job of vision's beside its waiting 1-instance one.
QUOTA = 3
TEAM_SETTINGS: dict[str, dict[str, Any]] = {
    "vision": {
        "instance_types": ["ml.g5.xlarge", "ml.g5.12xlarge", "ml.m5.xlarge"],
        "max_instance_count": 2,
        "max_run_seconds": 86400,
        "max_warm_pool_seconds": 600,
        "quota_instances": QUOTA,
    },
    "nlp": {},
}


def data_bucket(emu: Emulator) -> str:
    """The platform's data bucket (its PlatformSettings' data_s3_uri)."""
    settings = json.loads(emu.output("PlatformSettings"))
    return str(settings["data_s3_uri"]).removeprefix("s3://").split("/")[0]


@contextmanager
def deployed_team_platform(
    outdir: Path, teams: Mapping[str, Mapping[str, Any]] = TEAM_SETTINGS
) -> Iterator[Emulator]:
    """The app synthesized with `teams` (from the synth cache when unchanged), deployed into the
    emulator with IAM enforced, each team's training data in place (`teams/<team>/cifar10/train/`)."""
    from dtrain.emulator.platform_app import synth_for_emulator

    assembly = synth_for_emulator(outdir, {"teams": {team: dict(limits) for team, limits in teams.items()}})
    with Emulator(assembly, announce=False, enforce=True, orchestration_stack=ORCHESTRATION) as emu:
        s3, bucket = emu.client("s3"), data_bucket(emu)
        for team in teams:
            s3.put_object(Bucket=bucket, Key=f"teams/{team}/cifar10/train/part-0", Body=b"x")
        yield emu


def team_spec(bucket: str, team: str, items: int) -> dict[str, Any]:
    """A one-instance job of `team` on its own data; with items > 1, a sweep of that many."""
    spec: dict[str, Any] = {
        "framework": "pytorch",
        "estimator": {
            "entry_point": "train_ddp.py",
            "image_uri": "ddp",
            "instance_type": "ml.g5.12xlarge",
            "instance_count": 1,
            "max_run": 3600,
            "metric_definitions": [{"Name": "validation:accuracy", "Regex": "acc=([0-9.]+)"}],
        },
        "inputs": {"train": f"s3://{bucket}/teams/{team}/cifar10/train"},
    }
    if items > 1:
        spec["sweep"] = {
            "max_concurrency": items,
            "objective": {"metric": "validation:accuracy", "goal": "maximize"},
            "overrides": [{"lr": round(0.01 * (i + 1), 4)} for i in range(items)],
        }
    return spec
