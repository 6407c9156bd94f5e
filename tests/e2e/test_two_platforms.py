"""Two platforms in one emulator (issue 30): each runs its own jobs to SUCCEEDED with IAM
enforced (its state machine acting with its own role, its Lambdas reading their own
environment), and neither platform's roles reach the other's jobs or ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrain.emulator import Emulator
from dtrain.emulator.apps import synth_standin_app
from dtrain.emulator.authz.authorizer import AccessDenied, Principal
from dtrain.emulator.fixtures import standin_emulator

FIRST, SECOND = "DtrainOrchestration", "SecondOrchestration"


@pytest.fixture(scope="module")
def second_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second stand-in platform (stack prefix Second, job-name prefix second): one more synth
    of the stand-in app, ~30 s on 2 busy cores."""
    return synth_standin_app(
        tmp_path_factory.mktemp("second") / "cdk.out", prefix="second", stack_prefix="Second"
    )


@pytest.fixture(scope="module")
def two_platforms(standin_assembly: Path, second_assembly: Path) -> Iterator[Emulator]:
    with standin_emulator(standin_assembly, enforce=True) as emu:
        emu.deploy(second_assembly)
        yield emu


def _role_of(emu: Emulator, stack: str, function: str) -> str:
    for fn in emu.client("lambda").list_functions()["Functions"]:
        if fn["FunctionName"].startswith(stack) and function in fn["FunctionName"]:
            return str(fn["Role"])
    raise LookupError(f"{stack}: no function {function}")


def test_each_platform_runs_its_own_job_to_success(two_platforms: Emulator, make_spec: Any) -> None:
    emu = two_platforms
    assert emu.platforms() == [FIRST, SECOND]
    runs = {platform: emu.start_execution(make_spec(), platform=platform) for platform in emu.platforms()}
    jobs = {platform: emu.jobs_of(arn, platform=platform)[0] for platform, arn in runs.items()}
    assert jobs[FIRST].startswith("dtrain-") and jobs[SECOND].startswith("second-")
    for platform, arn in runs.items():
        emu.sagemaker.complete(jobs[platform], metrics={"validation:accuracy": 0.9})
        desc = emu.wait_execution(arn)
        assert desc["status"] == "SUCCEEDED", (platform, desc.get("error"), desc.get("cause"))


def test_a_platform_s_roles_do_not_reach_the_other_s_jobs_or_ledger(two_platforms: Emulator) -> None:
    emu = two_platforms
    assert emu.authz is not None
    ledgers = {p: emu.output_of(p, "LedgerTableName") for p in (FIRST, SECOND)}
    for own, other, other_job in (
        (FIRST, SECOND, "second-x-0123456789"),
        (SECOND, FIRST, "dtrain-x-0123456789"),
    ):
        submit = Principal(_role_of(emu, own.removesuffix("Orchestration"), "SubmitJob"), session="submit")
        own_job = other_job.replace(other_job.split("-")[0], "dtrain" if own == FIRST else "second", 1)
        # Its own: allowed (nothing raised) ...
        emu.authz.authorize_call(
            submit, "sagemaker", "DescribeTrainingJob", {"TrainingJobName": own_job}, emu.region
        )
        emu.authz.authorize_call(
            submit, "dynamodb", "GetItem", {"TableName": ledgers[own], "Key": {"pk": {"S": "x"}}}, emu.region
        )
        # ... the other platform's: denied, by the same policies the calls above passed.
        for service, operation, params in (
            ("sagemaker", "DescribeTrainingJob", {"TrainingJobName": other_job}),
            ("sagemaker", "StopTrainingJob", {"TrainingJobName": other_job}),
            ("dynamodb", "GetItem", {"TableName": ledgers[other], "Key": {"pk": {"S": "x"}}}),
        ):
            with pytest.raises(AccessDenied):
                emu.authz.authorize_call(submit, service, operation, params, emu.region)
