"""The upgrade sequence of tests/e2e/test_upgrade_sequence.py, timed (issue 30's figure): the
stand-in platform deployed into the emulator, then each upgrade deployed as `cdk deploy` deploys
it (an UPDATE change set: dtrain.emulator.upgrade_steps) and a job run after it.

Prints, per step, the deploy's seconds and the job's outcome and seconds (submit to the
execution's end; the job's training is played by the emulator's event playback), and uptime.
The real CDK CLI's deploys, jobs and an upgrade through it: benchmarks/cdk_deploy_emulator.sh.
Usage: .venv/bin/python benchmarks/upgrade_sequence.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dtrain.emulator import upgrade_steps as steps  # noqa: E402
from dtrain.emulator.core import Emulator  # noqa: E402
from dtrain.emulator.fixtures import standin_assembly_once  # noqa: E402

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


def run_job(emu: Emulator) -> tuple[str, float]:
    start = time.perf_counter()
    arn = emu.start_execution(SPEC)
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
    print(os.popen("uptime").read().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
