"""Issue 26's fault matrix: each row (tests/e2e/fault_rows.py) against one stand-in emulator,
then the largest sweep the spec allows with the longest hyperparameters it allows.

    .venv/bin/python benchmarks/fault_matrix.py [--items 200] [--skip-sweep]

Prints, per row: the scenario, how its executions ended, what it left running (goal: none) and
the largest Step Functions state it produced (the emulator's payload meter, the input or output
of any state); then the largest over the matrix against 262,144 bytes. The sweep row builds
200 items of 13 numeric hyperparameters, the names lengthened until Prepare's projection
(dtrain.orchestration.state_budget) is just within its budget, so it is the largest the
platform accepts; its jobs complete (half with metrics, the rest failed with a long reason).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dtrain.emulator.fixtures import standin_emulator  # noqa: E402
from dtrain.emulator.service_behaviour import MAX_STATE_PAYLOAD_BYTES  # noqa: E402
from tests.e2e import fault_rows  # noqa: E402


def largest_allowed_sweep(emu: Any, items: int) -> dict[str, Any]:
    """13 numeric hyperparameters per item, names as long as Prepare still accepts."""
    from dtrain.jobspec.errors import SpecError
    from dtrain.jobspec.platform import PlatformSettings
    from dtrain.orchestration.submit import prepare

    # The deployed platform's own settings: the rows' size depends on its output URI.
    platform = PlatformSettings.from_dict(json.loads(emu.output("PlatformSettings")))

    def sweep(length: int) -> dict[str, Any]:
        spec = fault_rows.make_spec()
        stem = "h" * (length - 3)
        spec["sweep"] = {
            "max_concurrency": 40,
            "objective": {"metric": "validation:accuracy", "goal": "maximize"},
            "overrides": [
                {f"{stem}_{k:02d}": -1.2345678901234567e-05 * (i + k + 1) for k in range(13)}
                for i in range(items)
            ],
        }
        return spec

    def accepted(length: int) -> bool:
        try:
            prepare(sweep(length), platform, region="us-east-1")
        except SpecError:
            return False
        return True

    low, high = 4, 256  # hyperparameter names: SageMaker allows up to 256 characters
    assert accepted(low)
    while low < high:  # the longest name Prepare accepts
        mid = (low + high + 1) // 2
        low, high = (mid, high) if accepted(mid) else (low, mid - 1)
    return sweep(low)


def sweep_row(emu: Any, spec: dict[str, Any]) -> fault_rows.RowResult:
    items = len(spec["sweep"]["overrides"])
    arn = emu.start_execution(spec)
    played: set[str] = set()
    deadline = time.monotonic() + 1800
    # The Map runs max_concurrency items at a time: each job is played as it appears.
    while emu.describe_execution(arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        for row in emu.ledger().find_by_execution(arn):
            name = row.job_name
            if name in played or name not in emu.sagemaker.jobs:
                continue
            if row.item_index % 2:
                emu.sagemaker.fail(name, "AlgorithmError: " + "the loss diverged; " * 20)
            else:
                emu.sagemaker.complete(name, metrics={"validation:accuracy": row.item_index / items})
            played.add(name)
        time.sleep(0.2)
    desc = emu.wait_execution(arn, timeout=60)
    name_len = len(next(iter(spec["sweep"]["overrides"][0])))
    return fault_rows.RowResult(
        f"largest allowed sweep: {items} items x 13 hyperparameters (names {name_len} chars)",
        [desc["status"]],
        fault_rows.left_running(emu, executions=[arn]),
        {"cause": desc.get("cause"), "input_bytes": len(json.dumps(spec))},
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--sweep-only", action="store_true", help="only the largest allowed sweep")
    args = parser.parse_args()
    rows = [
        fault_rows.row_sns_throttle,
        fault_rows.row_names_reused,
        fault_rows.row_abort_while_creating,
        fault_rows.row_abort_while_updating,
    ]
    rows += [getattr(fault_rows, n) for n in getattr(fault_rows, "LIFECYCLE_ROWS", ())]
    if args.sweep_only:
        rows = []
    results: list[tuple[fault_rows.RowResult, int, float]] = []
    with standin_emulator() as emu:
        meter = emu.behaviour.payloads
        for row in rows:
            meter.reset()
            started = time.monotonic()
            result = row(emu)
            results.append((result, meter.largest_bytes, time.monotonic() - started))
        if not args.skip_sweep:
            meter.reset()
            started = time.monotonic()
            result = sweep_row(emu, largest_allowed_sweep(emu, args.items))
            results.append((result, meter.largest_bytes, time.monotonic() - started))
    worst = max(b for _, b, _ in results)
    for result, largest, seconds in results:
        print(
            json.dumps(
                {
                    "scenario": result.scenario,
                    "statuses": result.statuses,
                    "left_running": result.left_running,
                    "largest_state_bytes": largest,
                    "seconds": round(seconds, 1),
                    "detail": result.detail,
                }
            )
        )
    margin = MAX_STATE_PAYLOAD_BYTES - worst
    print(
        f"largest state over the matrix: {worst:,} bytes of {MAX_STATE_PAYLOAD_BYTES:,}"
        f" (margin {margin:,} bytes, {100 * margin / MAX_STATE_PAYLOAD_BYTES:.1f} %)"
    )
    ok = all(not r.left_running for r, _, _ in results) and worst < MAX_STATE_PAYLOAD_BYTES
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
