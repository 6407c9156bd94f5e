"""State transitions and history events of a successful single-job execution, and the Lambda
handlers' cold-init times.

- Runs the real state machine in the emulator for a 1-minute job (max_run 60) and a 24-hour
  job (max_run 86400): the callback design costs the same number of transitions for both.
- Compares with a 60-s polling loop (Wait -> DescribeTrainingJob -> Choice): 3 transitions and
  9 history events per minute, so 25,000 history events are reached after about 46 hours.
- Train then deploy (a `deploy` block): the same two job lengths, the endpoint really served by
  the emulator (its model a small archive following the inference contract): the hosting
  steps add a fixed number of transitions too, however long the endpoint takes to come up.
- Cold init: a fresh interpreter imports each handler from its own synthesized bundle (the
  zip's contents: handler.py + dtrain/), as the Lambda runtime does at a cold start (module
  init only; the runtime's own start is not included). Median of 5 runs.

Run: .venv/bin/python benchmarks/state_transitions.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dtrain.emulator import Emulator
from dtrain.emulator.fixtures import standin_assembly_once, standin_emulator

HISTORY_CAP = 25_000
POLL_TRANSITIONS_PER_MIN = 3  # Wait, Describe (Task), Choice
POLL_EVENTS_PER_MIN = 9  # Wait entered/exited, Task entered/scheduled/started/succeeded/exited, Choice 2


def spec(max_run: int) -> dict[str, Any]:
    return {
        "framework": "pytorch",
        "estimator": {
            "entry_point": "train_ddp.py",
            "image_uri": "ddp",
            "instance_type": "ml.g5.12xlarge",
            "instance_count": 2,
            "distribution": {"torch_distributed": {"enabled": True}},
            "max_run": max_run,
        },
        "inputs": {"train": "s3://data-bucket/train"},
    }


def run_once(emu: Emulator, max_run: int) -> dict[str, Any]:
    arn = emu.start_execution(spec(max_run))
    (job,) = emu.jobs_of(arn)
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9}, training_seconds=max_run // 2)
    desc = emu.wait_execution(arn)
    history = emu.history(arn)
    transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    return {"status": desc["status"], "state_transitions": transitions, "history_events": len(history)}


def run_deploy(emu: Emulator, max_run: int) -> dict[str, Any]:
    from tests.emulator.hosting_models import model_archive

    with_deploy = spec(max_run)
    with_deploy["deploy"] = {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-cpu-py311",
    }
    arn = emu.start_execution(with_deploy)
    (job,) = emu.jobs_of(arn)
    output = emu.client("sagemaker").describe_training_job(TrainingJobName=job)["OutputDataConfig"]
    bucket, _, prefix = str(output["S3OutputPath"]).removeprefix("s3://").partition("/")
    emu.client("s3").put_object(
        Bucket=bucket, Key=f"{prefix}/{job}/output/model.tar.gz", Body=model_archive(2)
    )
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9}, training_seconds=max_run // 2)
    desc = emu.wait_execution(arn, timeout=300)
    history = emu.history(arn)
    transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    return {"status": desc["status"], "state_transitions": transitions, "history_events": len(history)}


def cold_init(assembly: Path) -> dict[str, float]:
    template = json.loads((assembly / "DtrainOrchestration.template.json").read_text())
    out: dict[str, float] = {}
    for logical, res in template["Resources"].items():
        if res["Type"] != "AWS::Lambda::Function":
            continue
        asset_hash = str(res["Properties"]["Code"]["S3Key"]).removesuffix(".zip")
        bundle = assembly / f"asset.{asset_hash}"
        # The bundle first on sys.path, as in Lambda: handler.py and its own copy of dtrain/.
        code = (
            "import sys; sys.path.insert(0, '.'); import time; t = time.perf_counter(); import handler; "
            "print(time.perf_counter() - t)"
        )
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-E", "-s", "-c", code],
                    cwd=bundle,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(5)
        ]
        out[logical.rstrip("0123456789ABCDEF")] = round(statistics.median(runs) * 1000, 1)
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        assembly = standin_assembly_once(Path(tmp))  # kept: the cold-init runs use its bundles
        with standin_emulator(assembly) as emu:
            short, long = run_once(emu, 60), run_once(emu, 86_400)
            deploy_short, deploy_long = run_deploy(emu, 60), run_deploy(emu, 86_400)
        init_ms = cold_init(assembly)
    minutes_to_cap = HISTORY_CAP / POLL_EVENTS_PER_MIN
    report = {
        "callback_1_minute_job": short,
        "callback_24_hour_job": long,
        "callback_1_minute_job_then_deploy": deploy_short,
        "callback_24_hour_job_then_deploy": deploy_long,
        "polling_60s_1_minute_job": {"state_transitions": 2 + POLL_TRANSITIONS_PER_MIN * 1 + 2},
        "polling_60s_24_hour_job": {
            "state_transitions": 2 + POLL_TRANSITIONS_PER_MIN * 24 * 60 + 2,
            "history_events": 5 + POLL_EVENTS_PER_MIN * 24 * 60 + 6,
        },
        "polling_history_cap_reached_after_hours": round(minutes_to_cap / 60, 1),
        "handler_cold_init_ms_median_of_5": init_ms,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
