"""The plan Prepare hands the state machine, and its size against Step Functions' state limit.

One function, `planned_state`, builds the plan from the spec and the wait timeouts of its
requests and refuses a sweep whose state would pass the budget (dtrain.orchestration
.state_budget). Its callers: Prepare (dtrain.orchestration.submit, with the uploaded spec), `dtrain
validate` and `dtrain submit`'s own check before anything is uploaded (dtrain.commands.spec_cmds,
dtrain.remote.spec_check), so a sweep too large for the state machine is refused where the user
types the spec, with the field named, not only once the execution has started. Before the upload,
the spec names local code where Prepare's names an S3 URI (some tens of bytes longer, once):
the budget's margin (state_budget.MARGIN_BYTES, 26 KB) covers it.

Light on purpose (no boto3): the offline commands import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dtrain.jobspec.errors import SpecError
from dtrain.jobspec.inference_spec import DEFAULT_DEPLOY_WAIT_TIMEOUT_S, DEFAULT_TRANSFORM_WAIT_TIMEOUT_S
from dtrain.orchestration.state_budget import check_sweep_state
from dtrain.orchestration.sweep import split_sweep
from dtrain.orchestration.timeouts import DEFAULT_MARGIN_S, wait_timeout_seconds

DEPLOY = "deploy"
TRANSFORM_BLOCK = "transform"
HOSTING_BLOCKS = (DEPLOY, TRANSFORM_BLOCK)
# How long the state machine waits for an endpoint / a transform job before it gives up on the
# callback, unless the block's `wait_timeout` says (dtrain.jobspec.inference_spec: why these).
DEPLOY_TIMEOUT_S = DEFAULT_DEPLOY_WAIT_TIMEOUT_S
TRANSFORM_TIMEOUT_S = DEFAULT_TRANSFORM_WAIT_TIMEOUT_S


def hosting_block(spec: Mapping[str, Any]) -> str | None:
    present = [b for b in HOSTING_BLOCKS if spec.get(b) is not None]
    if len(present) > 1:
        raise SpecError(
            "transform", "{...}", "one execution either deploys or transforms: the spec has deploy too"
        )
    return present[0] if present else None


def hosting_entry(spec: Mapping[str, Any], *, is_sweep: bool) -> dict[str, Any] | None:
    """The plan's `hosting`: which step follows training, and how long its callback may take."""
    block = hosting_block(spec)
    if block is None:
        return None
    default = DEPLOY_TIMEOUT_S if block == DEPLOY else TRANSFORM_TIMEOUT_S
    timeout = int(spec[block].get("wait_timeout") or default)  # the Deploy/Transform task's TimeoutSeconds
    # A sweep hosts its best trial (the ranked result's `best`), chosen after every trial ended.
    return {"kind": block, "timeout_seconds": timeout, "best_of_sweep": is_sweep}


def planned_state(
    spec_dict: Mapping[str, Any],
    *,
    item_timeouts: Sequence[int],
    processing_timeout: int | None,
    output_uri: str,
) -> dict[str, Any]:
    """The plan: `item_timeouts` are the wait timeouts of the training requests, one per sweep
    item in order (one without a sweep); SpecError when the sweep's state would pass the budget."""
    base, sweep = split_sweep(spec_dict)
    overrides_list = list(sweep.overrides) if sweep else [{}]
    if len(item_timeouts) != len(overrides_list):
        raise ValueError(f"{len(item_timeouts)} timeouts for {len(overrides_list)} items")
    items = [
        {"index": index, "overrides": dict(overrides), "timeout_seconds": int(timeout)}
        for index, (overrides, timeout) in enumerate(zip(overrides_list, item_timeouts, strict=True))
    ]
    processing = None if processing_timeout is None else {"timeout_seconds": int(processing_timeout)}
    plan: dict[str, Any] = {
        "spec": base,
        "is_sweep": sweep is not None,
        "timeout_seconds": max(item_timeouts),
        "items": items,
        "max_concurrency": sweep.max_concurrency if sweep else 1,
        # The Process step's callback writes the processing job's name here; training reads
        # its outputs from it. None: no processing step.
        "processing": processing,
        "has_processing": processing is not None,
    }
    if sweep:
        plan["objective"] = {"metric": sweep.objective_metric, "goal": sweep.goal}
    hosting = hosting_entry(base, is_sweep=sweep is not None)  # after Finalize: deploy or transform
    if hosting is not None:
        plan["hosting"] = hosting
    # Issue 26 finding 7: a sweep whose state would pass Step Functions' 256 KiB is refused with
    # the spec's field named, not failed with States.DataLimitExceeded after its jobs ran.
    check_sweep_state(plan, output_uri)
    return plan


def planned_state_of_requests(
    spec_dict: Mapping[str, Any],
    requests: Sequence[Any],
    *,
    output_uri: str,
    margin_s: int = DEFAULT_MARGIN_S,
) -> dict[str, Any]:
    """`planned_state` from the execution's requests (dtrain.requests.execution_requests, as
    `dtrain validate` and `dtrain submit` build them): each one's wait timeout as Prepare derives it."""
    from dtrain.requests import execution_requests as ops  # lazy: 0.2 s of a Lambda cold start

    training = [r.request for r in requests if r.operation == ops.TRAINING]
    processing = next((r.request for r in requests if r.operation == ops.PROCESSING), None)
    return planned_state(
        spec_dict,
        item_timeouts=[wait_timeout_seconds(r, margin_s) for r in training],
        processing_timeout=wait_timeout_seconds(processing, margin_s) if processing is not None else None,
        output_uri=output_uri,
    )
