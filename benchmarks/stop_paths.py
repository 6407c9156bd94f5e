"""For each way an execution ends: are its jobs stopped, and how long after the end?

Runs the real state machine and Lambdas in the emulator (fault injection from
dtrain.emulator.service_behaviour) and prints one line per path:

    <path>: execution <STATUS>; job <status>; stopped <s> s after the execution ended

"after the execution ended" is measured from the moment DescribeExecution first reports the
end. The lost-event path is stopped by the Reconcile Lambda, run here at once; in AWS it runs
every 5 minutes, so there the bound is one reconcile period.

Run: .venv/bin/python benchmarks/stop_paths.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from conftest import job_spec  # the e2e tests' spec

from dtrain.emulator import Emulator
from dtrain.emulator.fixtures import standin_emulator


def _until(cond: Callable[[], bool], emu: Emulator, timeout: float = 120) -> float:
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise TimeoutError
        emu.drain_events()
        time.sleep(0.02)
    return time.monotonic()


def _ended(emu: Emulator, arn: str) -> tuple[str, float]:
    t = _until(lambda: emu.describe_execution(arn)["status"] != "RUNNING", emu)
    return str(emu.describe_execution(arn)["status"]), t


def _report(path: str, emu: Emulator, arn: str, job: str, ended: tuple[str, float], stopped: bool) -> None:
    status, t_end = ended
    job_status = emu.sagemaker.job(job).status
    if stopped:
        t = _until(lambda: emu.sagemaker.job(job).status == "Stopped", emu)
        print(f"{path}: execution {status}; job Stopped; stopped {t - t_end:.2f} s after the execution ended")
    else:
        print(f"{path}: execution {status}; job {job_status} (finished by itself; nothing to stop)")


def main() -> None:
    with standin_emulator() as emu:
        sfn = emu.client("stepfunctions")

        def running_job() -> tuple[str, str]:
            arn = emu.start_execution(job_spec())
            (job,) = emu.jobs_of(arn)
            _until(lambda: (r := emu.ledger().get(job)) is not None and r.status == "InProgress", emu)
            return arn, job

        arn, job = running_job()
        emu.sagemaker.complete(job)
        _report("success", emu, arn, job, _ended(emu, arn), stopped=False)

        arn, job = running_job()
        emu.sagemaker.fail(job, "AlgorithmError: x")
        _report("job failure", emu, arn, job, _ended(emu, arn), stopped=False)

        arn, job = running_job()
        sfn.stop_execution(executionArn=arn)
        _report("abort", emu, arn, job, _ended(emu, arn), stopped=True)

        arn, job = running_job()
        emu.behaviour.lose_execution_events(1)
        sfn.stop_execution(executionArn=arn)
        ended = _ended(emu, arn)
        emu.drain_events()
        emu.reconcile()
        _report("abort, event lost (reconcile run at once)", emu, arn, job, ended, stopped=True)

        emu.behaviour.fail_sagemaker("DescribeTrainingJob", code="ServiceUnavailable", status=503, times=100)
        arn = emu.start_execution(job_spec())
        (job,) = emu.jobs_of(arn)
        ended = _ended(emu, arn)
        emu.behaviour.sagemaker_faults.clear()
        _report("Submit failed after creating the job (5xx)", emu, arn, job, ended, stopped=True)

        throttle = emu.sagemaker.throttle
        throttle.rate_per_s, throttle._next_slot = 0.001, time.monotonic() + 3600
        arn = emu.start_execution(job_spec())
        _until(lambda: bool(emu.ledger().find_by_execution(arn)), emu)
        (row,) = emu.ledger().find_by_execution(arn)
        sfn.stop_execution(executionArn=arn)
        ended = ("ABORTED", time.monotonic())
        event: dict[str, Any] = {
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": arn, "status": "ABORTED"},
        }
        emu.invoke("AbortJob", event)
        throttle._next_slot = 0.0
        _until(lambda: row.job_name in emu.sagemaker.jobs, emu)
        throttle.rate_per_s = None
        _report("Submit racing an abort", emu, arn, row.job_name, ended, stopped=True)


if __name__ == "__main__":
    main()
