"""The upgrade sequence of tests/e2e/test_upgrade_sequence.py, timed (issue 30's figure): the
stand-in platform deployed into the emulator, then each upgrade deployed as `cdk deploy` deploys
it (an UPDATE change set: dtrain.emulator.upgrade_steps) and a job run after it. Steps 4 (a new
team) and 5 (an instance-type allow-list on it) deploy a new synth of the stand-in app with the
team (from the synth cache once made; the synth's seconds are printed apart), every stack
updated as `cdk deploy --all` updates it; their jobs run on the team's state machine, and after
step 5 a job outside the list is started too (refused by Submit's Prepare: FAILED).

Prints, per step, the deploy's seconds and the job's outcome and seconds (submit to the
execution's end; the job's training is played by the emulator's event playback), and uptime.
The real CDK CLI's deploys, jobs and an upgrade through it: benchmarks/cdk_deploy_emulator.sh.
Usage: .venv/bin/python benchmarks/upgrade_sequence.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dtrain.emulator import upgrade_steps as steps  # noqa: E402
from dtrain.emulator.apps import STANDIN_DATA_BUCKET, synth_standin_app  # noqa: E402
from dtrain.emulator.core import Emulator  # noqa: E402
from dtrain.emulator.fixtures import standin_assembly_once  # noqa: E402
from dtrain.team_names import output_id  # noqa: E402

STACK = "DtrainOrchestration"
SPEC = {  # tests/e2e/conftest.py's job_spec: the stand-in platform's jobs are played, not run
    "framework": "pytorch",
    "estimator": {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.g5.12xlarge",
        "instance_count": 2,
        "distribution": {"torch_distributed": {"enabled": True}},
        "hyperparameters": {"epochs": 1, "lr": 0.1},
        "max_run": 3600,
    },
    "inputs": {"train": "s3://data-bucket/cifar10/train"},
}


TEAM_SPEC = {**SPEC, "inputs": {"train": f"s3://{STANDIN_DATA_BUCKET}/teams/vision/cifar10/train"}}
OUTSIDE_SPEC = {**TEAM_SPEC, "estimator": {**SPEC["estimator"], "instance_type": "ml.p5.48xlarge"}}  # type: ignore[dict-item]


def run_job(
    emu: Emulator, spec: dict[str, Any] = SPEC, machine: str | None = None, refused: bool = False
) -> tuple[str, float]:
    """The execution's status and seconds; `refused`: no job is expected (Prepare refuses it)."""
    start = time.perf_counter()
    if machine is None:
        arn = emu.start_execution(spec)
    else:
        arn = emu.client("stepfunctions").start_execution(
            stateMachineArn=machine, name=f"run-{uuid.uuid4().hex[:12]}", input=json.dumps(spec)
        )["executionArn"]
    if not refused:
        job = emu.jobs_of(arn)[0]
        emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
    return str(emu.wait_execution(arn, timeout=300)["status"]), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dtrain-upgrades-"))
    assembly = standin_assembly_once(work)
    with Emulator(assembly, announce=False) as emu:
        cfn = emu.client("cloudformation")
        status, seconds = run_job(emu)
        print(f"{'step':34} {'deploy s':>8}  job")
        print(f"{'0. deployed (CreateStack)':34} {emu.deploy_seconds:8.1f}  {status} in {seconds:.1f} s")

        def new_code(template: dict[str, Any]) -> dict[str, Any]:
            code = steps.submit_code_with_marker(assembly, template, "submit: upgraded to v2")
            emu.client("s3").create_bucket(Bucket="upgrade-assets")
            emu.client("s3").put_object(Bucket="upgrade-assets", Key="submit-v2.zip", Body=code)
            return steps.with_submit_code(template, "upgrade-assets", "submit-v2.zip")

        upgrades: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
            ("1. a tag on every resource", lambda t: steps.tag_every_resource(t, "cost-center", "ml-42")),
            ("2. a job setting (tags)", lambda t: steps.set_job_tags(t, {"owner": "platform-team"})),
            ("3. a new version of Submit's code", new_code),
        ]
        for name, change in upgrades:
            seconds_deploy = steps.deploy_update(cfn, STACK, change(steps.current_template(cfn, STACK)))
            status, seconds = run_job(emu)
            print(f"{name:34} {seconds_deploy:8.1f}  {status} in {seconds:.1f} s")

        teams: list[tuple[str, dict[str, Any]]] = [
            ("4. a new team (vision)", {"vision": {}}),
            ("5. vision: instance-type allow-list", {"vision": {"instance_types": ["ml.g5.12xlarge"]}}),
        ]
        for name, settings in teams:
            start = time.perf_counter()
            app = synth_standin_app(work / name[0] / "cdk.out", teams=settings)
            synth_s = time.perf_counter() - start
            deployed = steps.deploy_assembly_update(emu.session, app, account=emu.account, region=emu.region)
            machine = steps.stack_outputs(cfn, STACK)[output_id("vision", "StateMachineArn")]
            status, seconds = run_job(emu, TEAM_SPEC, machine)
            print(
                f"{name:34} {sum(deployed.values()):8.1f}  {status} in {seconds:.1f} s"
                f"  (synth {synth_s:.1f} s; {', '.join(f'{k} {v:.1f} s' for k, v in deployed.items())})"
            )
        status, seconds = run_job(emu, OUTSIDE_SPEC, machine, refused=True)
        print(f"{'   a job on ml.p5.48xlarge':34} {'':8}  {status} in {seconds:.1f} s (refused)")
    print(os.popen("uptime").read().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
