"""Two platforms in one emulator (issue 30's figure): deploy both, run one job on each with IAM
enforced, and try each platform's Submit role on the other's jobs and ledger.

Prints each platform's deploy time, each job's outcome and time to SUCCEEDED, and every
cross-platform decision. Synthesizes the two stand-in platforms first (or reuses --workdir's).
Usage: .venv/bin/python benchmarks/two_platforms_emulator.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dtrain.emulator.apps import synth_standin_app  # noqa: E402
from dtrain.emulator.authz.authorizer import AccessDenied, Principal  # noqa: E402
from dtrain.emulator.core import Emulator  # noqa: E402
from dtrain.emulator.fixtures import synthesized_once  # noqa: E402

PLATFORMS = {"Dtrain": "dtrain", "Second": "second"}
SPEC = {  # tests/e2e/conftest.py's job_spec: the stand-in platforms' jobs are played, not run
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dtrain-two-platforms-"))
    assemblies = {
        stack: synthesized_once(
            work / stack, lambda out, s=stack, p=prefix: synth_standin_app(out, prefix=p, stack_prefix=s)
        )
        for stack, prefix in PLATFORMS.items()
    }
    first, second = assemblies["Dtrain"], assemblies["Second"]
    start = time.perf_counter()
    with Emulator(first, enforce=True, announce=False) as emu:
        print(f"deploy Dtrain* (IAM enforced): {emu.deploy_seconds:.1f} s")
        t = time.perf_counter()
        emu.deploy(second)
        print(f"deploy Second* into the same emulator: {time.perf_counter() - t:.1f} s")
        runs = {p: (emu.start_execution(SPEC, platform=p), time.perf_counter()) for p in emu.platforms()}
        for platform, (arn, began) in runs.items():
            job = emu.jobs_of(arn, platform=platform)[0]
            emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
            status = emu.wait_execution(arn, timeout=300)["status"]
            print(f"{platform}: job {job}: {status} in {time.perf_counter() - began:.1f} s")
        assert emu.authz is not None
        for own, other in (
            ("DtrainOrchestration", "SecondOrchestration"),
            ("SecondOrchestration", "DtrainOrchestration"),
        ):
            role = next(
                f["Role"]
                for f in emu.client("lambda").list_functions()["Functions"]
                if f["FunctionName"].startswith(own) and "SubmitJob" in f["FunctionName"]
            )
            other_job = f"{PLATFORMS[other.removesuffix('Orchestration')]}-job-0123456789"
            for service, op, params in (
                ("sagemaker", "StopTrainingJob", {"TrainingJobName": other_job}),
                ("dynamodb", "GetItem", {"TableName": emu.output_of(other, "LedgerTableName"), "Key": {}}),
            ):
                try:
                    emu.authz.authorize_call(
                        Principal(str(role), session="bench"), service, op, params, emu.region
                    )
                    verdict = "ALLOWED"
                except AccessDenied:
                    verdict = "denied"
                print(f"{own} Submit role -> {other}: {service}:{op}: {verdict}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
