"""Processing + training through the emulated platform: state transitions and each phase's wall time.

1. Transitions (jobs played by the test backend): a spec with a processing step, once with
   1-minute limits (max_runtime_in_seconds / max_run 60) and once with 24-hour ones: the
   callback design costs the same transitions however long either job runs; a spec without
   processing is shown beside it.
2. Wall time (jobs really run by the local runner, IAM enforced): examples/processing/
   ddp_with_preprocessing.json with preprocess_cifar10.py on the sample data (--train images)
   and a few DDP steps on its npz output; phases from the execution's and the jobs' own times.

Run: .venv/bin/python benchmarks/processing_pipeline.py [--train 2000] [--test 400]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dtrain.emulator import Emulator
from dtrain.emulator.apps import STANDIN_DATA_BUCKET
from dtrain.emulator.fixtures import standin_assembly_once, standin_emulator

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "processing" / "ddp_with_preprocessing.json"
SCRIPT = REPO / "training_code" / "processing" / "preprocess_cifar10.py"
DDP_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dtrain-ddp:latest"  # the stand-in's
CODE_URI = f"s3://{STANDIN_DATA_BUCKET}/code/preprocess_cifar10.py"
RAW_URI = f"s3://{STANDIN_DATA_BUCKET}/cifar10/raw"


def example_spec(limit_s: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(EXAMPLE.read_text())
    spec.pop("job_name")  # a fresh execution name per run
    spec["processing"]["run"]["code"] = CODE_URI
    spec["processing"]["run"]["inputs"][0]["source"] = RAW_URI
    if limit_s is not None:
        spec["processing"]["processor"]["max_runtime_in_seconds"] = limit_s
        spec["estimator"]["max_run"] = limit_s
    return spec


def transitions(emu: Emulator, arn: str) -> int:
    return sum(1 for e in emu.history(arn) if e["type"].endswith("StateEntered"))


def played(emu: Emulator, spec: dict[str, Any]) -> dict[str, Any]:
    arn = emu.start_execution(spec)
    done: list[str] = []
    for count in (1, 2) if "processing" in spec else (1,):
        job = next(j for j in emu.jobs_of(arn, count=count) if j not in done)
        emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
        done.append(job)
    desc = emu.wait_execution(arn)
    return {"status": desc["status"], "state_transitions": transitions(emu, arn)}


def _seconds(a: Any, b: Any) -> float:
    return round((b - a).total_seconds(), 2)


def real_run(assembly: Path, work: Path, train: int, test: int) -> dict[str, Any]:
    from dtrain.commands.data_cmd import make_cifar10_sample
    from dtrain.emulator.local_backend import LocalRunnerBackend
    from dtrain.local import LocalConfig

    raw = work / "raw"
    make_cifar10_sample(raw, train=train, test=test)
    backend = LocalRunnerBackend(workdir=work / "jobs", config=LocalConfig(images={DDP_URI: "ddp"}))
    with standin_emulator(assembly, sagemaker=backend) as emu:
        s3 = emu.client("s3")
        s3.put_object(Bucket=STANDIN_DATA_BUCKET, Key="code/preprocess_cifar10.py", Body=SCRIPT.read_bytes())
        for f in sorted(raw.iterdir()):
            s3.upload_file(str(f), STANDIN_DATA_BUCKET, f"cifar10/raw/{f.name}")
        spec = example_spec()
        spec["estimator"]["instance_count"] = 1
        spec["estimator"]["hyperparameters"].update({"epochs": 1, "max_steps": 5, "width": 8})
        started = time.perf_counter()
        arn = emu.start_execution(spec)
        desc = emu.wait_execution(arn, timeout=900)
        wall = time.perf_counter() - started
        if desc["status"] != "SUCCEEDED":
            raise RuntimeError(f"{desc['status']}: {desc.get('cause')} {backend.errors}")
        rows = {r.kind: r.job_name for r in emu.ledger().find_by_execution(arn)}
        sm = emu.client("sagemaker")
        proc = sm.describe_processing_job(ProcessingJobName=rows["processing"])
        job = sm.describe_training_job(TrainingJobName=rows["training"])
        start, stop = desc["startDate"], desc["stopDate"]
        return {
            "enforce_iam": emu.enforce,
            "sample_images": {"train": train, "test": test},
            "execution_wall_s": round(wall, 2),
            "state_transitions": transitions(emu, arn),
            "phases_s": {
                "start_to_processing_created": _seconds(start, proc["CreationTime"]),
                "processing_job": _seconds(proc["CreationTime"], proc["ProcessingEndTime"]),
                "processing_end_to_training_created": _seconds(
                    proc["ProcessingEndTime"], job["CreationTime"]
                ),
                "training_job": _seconds(job["CreationTime"], job["TrainingEndTime"]),
                "training_end_to_execution_end": _seconds(job["TrainingEndTime"], stop),
            },
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        assembly = standin_assembly_once(Path(tmp))
        with standin_emulator(assembly) as emu:
            no_processing = example_spec()
            no_processing.pop("processing")
            no_processing["inputs"] = {"train": RAW_URI, "test": RAW_URI}
            report: dict[str, Any] = {
                "transitions_processing_1_minute_limits": played(emu, example_spec(60)),
                "transitions_processing_24_hour_limits": played(emu, example_spec(86_400)),
                "transitions_without_processing": played(emu, no_processing),
            }
        report["local_runner"] = real_run(assembly, Path(tmp) / "real", args.train, args.test)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
