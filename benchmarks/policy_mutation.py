"""Policy mutation: remove each policy statement in turn, redeploy, run the chain, record
whether anything noticed.

    .venv/bin/python benchmarks/policy_mutation.py [--only TEXT] [--limit N] [--with-training]

Statements: every statement of every IAM policy, role trust policy, key, bucket and topic
policy and every Lambda permission of the stand-in platform's templates (DtrainStandIn +
DtrainOrchestration, the real OrchestrationStack). For each: the assembly without it is
deployed into a fresh emulator with enforcement on, and the orchestration chain runs once
(StartExecution -> Submit -> the job -> its completion event -> JobEvents -> Finalize ->
Notify). Caught = the execution did not SUCCEED, or a refusal was recorded (the post-deploy
service checks included). --with-training runs the job through local mode (real training on
CPU, ~1 min each), which is what exercises the execution role's statements.

Not caught is then classified from REAL_AWS_ONLY (what the emulator does not model, so the
statement stays, with that reason) or reported as "not caught" (unneeded, or a missing test).
On 2 cores a full run takes ~10 s per statement: use --only/--limit for a subset.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dtrain.emulator import Emulator  # noqa: E402
from dtrain.emulator.apps import STANDIN_DATA_BUCKET, synth_standin_app  # noqa: E402
from dtrain.emulator.authz.mutation import StatementRef, assembly_with, statements, without  # noqa: E402

STACKS = ("DtrainStandIn", "DtrainOrchestration")
# Statements the emulator cannot exercise, by what they grant (substring of the summary).
REAL_AWS_ONLY = {
    "logs:CreateLogStream": "Lambda's own log stream: the in-process runtime writes no Lambda logs",
    "xray:": "X-Ray tracing is not emulated",
    "ec2:": "VPC network interfaces: the emulator does not place jobs or Lambdas in a VPC",
    "Deny ": "a guard (Deny): removing it loosens, nothing that should work fails",
    "logs.": "state machine logging to an encrypted log group: moto's Step Functions writes no logs",
    "logs:CreateLogDelivery": "Step Functions log delivery: not emulated",
    "Allow kms:* ": "the account root statement: IAM delegation; the emulator's own caller is not checked",
}
SPEC: dict[str, Any] = {
    "framework": "pytorch",
    "estimator": {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.m5.xlarge",
        "instance_count": 1,
        "hyperparameters": {"epochs": 1, "batch_size": 32, "max_steps": 2, "width": 8},
        "max_run": 600,
    },
    "inputs": {"train": f"s3://{STANDIN_DATA_BUCKET}/cifar10/"},
}


def run_chain(path: Path, with_training: bool, work: Path) -> str:
    """'' when the chain succeeded and nothing was refused; else what noticed."""
    backend = None
    if with_training:
        from dtrain.emulator.local_backend import LocalRunnerBackend
        from dtrain.local import LocalConfig

        ddp = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dtrain-ddp:latest"
        backend = LocalRunnerBackend(workdir=work / "jobs", config=LocalConfig(images={ddp: "ddp"}))
    try:
        with Emulator(path, sagemaker=backend, announce=False) as emu:
            if emu.service_refusals:
                return emu.service_refusals[0]
            if with_training:
                _upload_sample(emu, work)
            arn = emu.start_execution(SPEC)
            if not with_training:
                jobs = emu.jobs_of(arn, timeout=20)
                emu.sagemaker.complete(jobs[0], metrics={"validation:accuracy": 0.9})
            desc = emu.wait_execution(arn, timeout=300 if with_training else 30)
            if desc["status"] != "SUCCEEDED":
                return f"{desc['status']}: {desc.get('cause') or desc.get('error')}"
            if emu.authz.refusals:
                return emu.authz.refusals[0].message
    except Exception as exc:  # a deploy or chain that breaks is noticed too
        return f"{type(exc).__name__}: {exc}"
    return ""


def _upload_sample(emu: Emulator, work: Path) -> None:
    import subprocess

    data = work / "cifar"
    if not data.exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "training_code/data/prepare_cifar10.py"),
                "synth",
                str(data),
                "--train",
                "64",
                "--test",
                "16",
            ],
            check=True,
            capture_output=True,
        )
    s3 = emu.client("s3")
    for f in data.iterdir():
        s3.upload_file(str(f), STANDIN_DATA_BUCKET, f"cifar10/{f.name}")


def classify(ref: StatementRef, with_training: bool) -> str:
    if "ExecutionRole" in ref.logical_id and not with_training:
        return "the execution role acts only in a job that runs: rerun with --with-training"
    for needle, reason in REAL_AWS_ONLY.items():
        if needle in ref.summary:
            return reason
    return ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="statements whose label contains this text")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--with-training", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="policy-mutation-"))
    assembly = synth_standin_app(work / "cdk.out")
    templates = {s: json.loads((assembly / f"{s}.template.json").read_text()) for s in STACKS}
    refs = [r for s in STACKS for r in statements(s, templates[s]) if args.only in r.label]
    if args.limit:
        refs = refs[: args.limit]
    baseline = run_chain(assembly, args.with_training, work)
    if baseline:
        raise SystemExit(f"the unmutated platform does not pass the chain: {baseline}")
    rows: list[tuple[str, str, str]] = []
    for i, ref in enumerate(refs):
        mutated = without(templates[ref.stack], ref)
        path = assembly_with(assembly, work / f"m{i}" / "cdk.out", {f"{ref.stack}.template.json": mutated})
        noticed = run_chain(path, args.with_training, work)
        reason = classify(ref, args.with_training)
        verdict = (
            "caught"
            if noticed
            else ("not exercised" if "--with-training" in reason else "kept: real AWS only")
        )
        verdict = verdict if noticed or reason else "NOT CAUGHT"
        rows.append((ref.label, verdict, noticed[:140] if noticed else reason))
        print(f"{verdict:22s} {ref.label[:110]}\n{'':22s} {rows[-1][2]}", flush=True)
    caught = sum(1 for r in rows if r[1] == "caught")
    kept = sum(1 for r in rows if r[1].startswith("kept"))
    unexercised = sum(1 for r in rows if r[1] == "not exercised")
    print(
        f"\nstatements {len(rows)}, caught {caught}, kept with a real-AWS-only reason {kept}, "
        f"not exercised without --with-training {unexercised}, "
        f"not caught {len(rows) - caught - kept - unexercised}"
    )


if __name__ == "__main__":
    main()
