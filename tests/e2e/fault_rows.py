"""Issue 26's fault matrix rows: each orchestration finding as a scenario through the real state
machine, Lambdas, event rules and IAM, against the emulator's SageMaker. Each row returns what
happened and what it left running; tests/e2e/test_fault_matrix.py asserts on the rows and
benchmarks/fault_matrix.py prints them with the largest state each produced.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from dtrain.emulator import Emulator
from dtrain.emulator.apps import STANDIN_DATA_BUCKET
from tests.e2e.conftest import job_spec
from tests.e2e.test_train_then_deploy import _deploy_spec, _invoke, _put_inputs, _train, _transform_spec


@dataclass
class RowResult:
    scenario: str
    statuses: list[str]  # each execution's end status, in start order
    left_running: list[str]  # what SageMaker still runs of what the row started (goal: none)
    detail: dict[str, Any] = field(default_factory=dict)


def make_spec() -> dict[str, Any]:
    return job_spec()


def left_running(emu: Emulator, *, executions: list[str], endpoints: tuple[str, ...] = ()) -> list[str]:
    """Jobs of the executions not ended, and the named endpoints that exist (a Deleting one is on
    its way out and bills no more)."""
    sm = emu.client("sagemaker")
    describe = {
        "training": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
        "processing": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
        "transform": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
    }
    running: list[str] = []
    for arn in executions:
        for row in emu.ledger().find_by_execution(arn):
            if row.kind == "endpoint":
                continue
            op, key, status_key = describe[row.kind or "training"]
            try:
                status = getattr(sm, op)(**{key: row.job_name})[status_key]
            except ClientError:
                continue
            if status in ("InProgress", "Stopping"):
                running.append(f"{row.kind} {row.job_name} {status}")
    for name in endpoints:
        try:
            status = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
        except ClientError:
            continue
        if status != "Deleting":
            running.append(f"endpoint {name} {status}")
    return running


def wait_for(predicate: Callable[[], bool], timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def sns_throttled(times: int) -> Iterator[dict[str, int]]:
    """The next `times` SNS Publish calls answer Throttled (SNS's ThrottledException, which the
    sns:publish integration names SNS.ThrottledException)."""
    from moto.core.exceptions import ServiceException
    from moto.sns.models import SNSBackend

    class Throttled(ServiceException):
        code = "Throttled"
        message = "Rate exceeded"

    publish = SNSBackend.publish
    left = {"left": times}

    def throttled_publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        if left["left"] > 0:
            left["left"] -= 1
            raise Throttled()
        return publish(self, *args, **kwargs)

    SNSBackend.publish = throttled_publish  # type: ignore[method-assign]
    try:
        yield left
    finally:
        SNSBackend.publish = publish  # type: ignore[method-assign]


def row_sns_throttle(emu: Emulator) -> RowResult:
    """Finding 9: Notify had no Retry; a throttled Publish failed a run whose job completed."""
    with sns_throttled(2) as left:
        arn = emu.start_execution(make_spec())
        (job,) = emu.jobs_of(arn)
        emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.9})
        desc = emu.wait_execution(arn)
    return RowResult(
        "SNS throttle on Notify (x2)",
        [desc["status"]],
        left_running(emu, executions=[arn]),
        {"throttles_served": 2 - left["left"], "cause": desc.get("cause")},
    )


def row_names_reused(emu: Emulator) -> RowResult:
    """Finding 6: a fixed transform.job_name / model_name worked once."""
    _put_inputs(emu, "fm-names", 3)
    spec = _transform_spec(
        make_spec, f"s3://{STANDIN_DATA_BUCKET}/fm-names/", job_name="nightly", model_name="scorer"
    )
    arns, statuses, jobs = [], [], []
    for scale in (2, 3):
        arn, _ = _train(emu, spec, scale=scale)
        desc = emu.wait_execution(arn, timeout=180)
        arns.append(arn)
        statuses.append(desc["status"])
        if desc["status"] == "SUCCEEDED":
            jobs.append(json.loads(desc["output"])["transform"]["transform_job_name"])
    return RowResult(
        "fixed transform.job_name and model_name, 2 executions",
        statuses,
        left_running(emu, executions=arns),
        {"transform_jobs": jobs},
    )


def slow_model(emu: Emulator, job: str, load_s: float = 3.0) -> None:
    """The job's model archive with a model_fn that takes `load_s` to load: Creating lasts that long."""
    from tests.emulator.hosting_models import INFERENCE

    slow = INFERENCE.replace(
        "def model_fn(model_dir):\n", f"def model_fn(model_dir):\n    time.sleep({load_s})\n"
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in {"weights.json": '{"scale": 1}', "code/inference.py": slow}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    desc = emu.client("sagemaker").describe_training_job(TrainingJobName=job)
    output = desc["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    emu.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/{job}/output/model.tar.gz", Body=buf.getvalue())


def _endpoint_status(emu: Emulator, name: str) -> str:
    try:
        return str(emu.client("sagemaker").describe_endpoint(EndpointName=name)["EndpointStatus"])
    except ClientError:
        return ""


def row_abort_while_creating(emu: Emulator) -> RowResult:
    """Finding 1: an abort during Deploy, the endpoint Creating: DeleteEndpoint is refused then."""
    endpoint = f"dtrain-fm-abort-{int(time.time() * 1000) % 100000}"
    arn = emu.start_execution(_deploy_spec(make_spec, endpoint))
    (job,) = emu.jobs_of(arn)
    slow_model(emu, job)
    emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.5})
    wait_for(lambda: _endpoint_status(emu, endpoint) == "Creating", what="the endpoint to be Creating")
    emu.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="abort in Creating")
    status = emu.wait_execution(arn)["status"]
    emu.drain_events()
    rows = [r.status for r in emu.ledger().find_by_execution(arn) if r.kind == "endpoint"]
    reconciles = 0

    def deleted() -> bool:
        nonlocal reconciles
        reconciles += 1
        emu.reconcile()
        return left_running(emu, executions=[arn], endpoints=(endpoint,)) == []

    with suppress(TimeoutError):  # what is left is the row's result
        wait_for(deleted, timeout=60, what="reconcile to delete the endpoint")
    return RowResult(
        "abort while the endpoint is Creating",
        [status],
        left_running(emu, executions=[arn], endpoints=(endpoint,)),
        {"endpoint_row_after_abort": rows, "reconcile_runs": reconciles},
    )


def _endpoint_rows(emu: Emulator, arn: str) -> list[Any]:
    return [r for r in emu.ledger().find_by_execution(arn) if r.kind == "endpoint"]


def row_abort_while_updating(emu: Emulator, updating_s: float = 3.0) -> RowResult:
    """An abort during Deploy while the endpoint is Updating (a second deploy to an endpoint that
    serves): SageMaker has no call that cancels an update and refuses DeleteEndpoint while it runs
    (UpdateEndpoint/DeleteEndpoint API reference). The serving endpoint is not the execution's to
    delete: the update is left to finish (or roll back), the endpoint keeps serving, the aborted
    execution's row settles and nothing of it runs on. Reconcile runs on its schedule (scaled)."""
    endpoint = f"dtrain-fm-upd-{int(time.time() * 1000) % 100000}"
    first, _ = _train(emu, _deploy_spec(make_spec, endpoint), scale=2)
    statuses = [emu.wait_execution(first, timeout=180)["status"]]
    durations = emu.lifecycle.durations
    before, durations.endpoint_updating_s = durations.endpoint_updating_s, updating_s
    try:
        arn, _ = _train(emu, _deploy_spec(make_spec, endpoint), scale=3)
        wait_for(lambda: _endpoint_status(emu, endpoint) == "Updating", what="the endpoint to be Updating")
        emu.client("stepfunctions").stop_execution(executionArn=arn, error="user", cause="abort in Updating")
        statuses.append(emu.wait_execution(arn)["status"])
        emu.drain_events()
        during = _endpoint_status(emu, endpoint)
        row_after_abort = [r.status for r in _endpoint_rows(emu, arn)]
        emu.schedules.scale = 0.002  # Reconcile every 0.6 s

        def settled() -> bool:
            rows = _endpoint_rows(emu, arn)
            return _endpoint_status(emu, endpoint) != "Updating" and all(
                not r.is_open and r.status in ("Completed", "Failed", "Stopped") for r in rows
            )

        with suppress(TimeoutError):  # what is left is the row's result
            wait_for(settled, timeout=60, what="the update to finish and the row to settle")
        time.sleep(2)  # two more Reconcile runs: a settled row stays settled
    finally:
        emu.schedules.scale = None
        durations.endpoint_updating_s = before
    after = _endpoint_status(emu, endpoint)
    served = _invoke(emu, endpoint, [1])[0] if after == "InService" else None
    running = left_running(emu, executions=[first, arn])
    if after:
        emu.client("sagemaker").delete_endpoint(EndpointName=endpoint)  # the row's own clean-up
    return RowResult(
        "abort while the endpoint is Updating",
        statuses,
        running,
        {
            "endpoint_during_abort": during,
            "endpoint_row_after_abort": row_after_abort,
            "endpoint_row_settled": [r.status for r in _endpoint_rows(emu, arn)],
            "endpoint_after": after,
            "served_y_for_x_1": served,
        },
    )


# -- rows that need the emulator's SageMaker lifecycles (dtrain.emulator.lifecycle) ------------
def _role(emu: Emulator) -> str:
    return str(json.loads(emu.output("PlatformSettings"))["role_arn"])


def row_update_of_a_failed_endpoint(emu: Emulator) -> RowResult:
    """Finding 2: UpdateEndpoint on a Failed endpoint is refused ("DeleteEndpoint is the only
    operation that can be performed on a failed endpoint"); the deploy failed after training and
    the Failed endpoint stayed, failing every later deploy to its name."""
    sm = emu.client("sagemaker")
    endpoint = f"dtrain-fm-failed-{int(time.time() * 1000) % 100000}"
    sm.create_model(
        ModelName=f"{endpoint}-m",
        ExecutionRoleArn=_role(emu),
        PrimaryContainer={"Image": "x", "ModelDataUrl": f"s3://{STANDIN_DATA_BUCKET}/none/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-c",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{endpoint}-m",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    # An earlier deploy of the same team, which failed (dtrain.orchestration.ownership's tags).
    from dtrain.orchestration.ownership import DEFAULT_TEAM, owner_tags

    team = str(json.loads(emu.output("PlatformSettings")).get("team") or DEFAULT_TEAM)
    tags = owner_tags([], execution="arn:aws:states:us-east-1:123456789012:execution:earlier", team=team)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-c", Tags=tags)
    wait_for(lambda: _endpoint_status(emu, endpoint) == "Failed", what="the endpoint to fail")
    arn, _ = _train(emu, _deploy_spec(make_spec, endpoint), scale=5)
    desc = emu.wait_execution(arn, timeout=180)
    after = sm.describe_endpoint(EndpointName=endpoint) if _endpoint_status(emu, endpoint) else {}
    served = ""
    if desc["status"] == "SUCCEEDED":
        runtime = emu.client("sagemaker-runtime")
        reply = runtime.invoke_endpoint(
            EndpointName=endpoint, Body='{"x": 2}', ContentType="application/json"
        )
        served = reply["Body"].read().decode()
        sm.delete_endpoint(EndpointName=endpoint)  # the row's own clean-up: a served model bills
    return RowResult(
        "deploy to a Failed endpoint",
        [desc["status"]],
        left_running(emu, executions=[arn]),
        {"cause": desc.get("cause"), "endpoint_after": after.get("EndpointStatus"), "served": served},
    )


def row_quota_below_the_sweep_width(emu: Emulator, items: int = 6) -> RowResult:
    """Finding 5: ResourceLimitExceeded failed every item past the quota within milliseconds.
    Quota 4 instances of the sweep's type, 2 per job: two jobs at a time; every item must run."""
    from dtrain.emulator.lifecycle.quotas import training_usage

    spec = make_spec()
    quota = training_usage(spec["estimator"]["instance_type"])
    spec["sweep"] = {
        "max_concurrency": items,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [{"lr": round(0.01 * (i + 1), 4)} for i in range(items)],
    }
    emu.lifecycle.quotas.set(quota, 2 * spec["estimator"]["instance_count"])
    refused_before = len(emu.lifecycle.refused("CreateTrainingJob"))
    most_at_once = 0
    try:
        arn = emu.start_execution(spec)
        done: set[str] = set()
        deadline = time.monotonic() + 600
        while emu.describe_execution(arn)["status"] == "RUNNING" and time.monotonic() < deadline:
            names = [
                r.job_name for r in emu.ledger().find_by_execution(arn) if r.job_name in emu.sagemaker.jobs
            ]
            running = [n for n in names if n not in done]
            most_at_once = max(most_at_once, len(running))
            for name in running:
                emu.sagemaker.complete(name, metrics={"validation:accuracy": 0.5})
                done.add(name)
            time.sleep(0.2)
        desc = emu.wait_execution(arn, timeout=60)
    finally:
        emu.lifecycle.quotas.limits.pop(quota, None)  # the account's quota as it was: no limit
    results = json.loads(desc["output"])["results"] if desc["status"] == "SUCCEEDED" else []
    return RowResult(
        f"quota of 2 jobs under a sweep {items} wide",
        [desc["status"]],
        left_running(emu, executions=[arn]),
        {
            "items_completed": sum(1 for r in results if r.get("status") == "Completed"),
            "most_jobs_at_once": most_at_once,
            "refused_creates": len(emu.lifecycle.refused("CreateTrainingJob")) - refused_before,
        },
    )


def row_max_runtime(emu: Emulator) -> RowResult:
    """Finding 8: a job SageMaker stopped at max_run (Stopped / MaxRuntimeExceeded) with its
    model saved counted as a failure and the model was dropped."""
    arn = emu.start_execution(make_spec())
    (job,) = emu.jobs_of(arn)
    control = emu.sagemaker.job(job)
    control.finish("Stopped", emit=False)
    control.job.secondary_status = "MaxRuntimeExceeded"
    control.job.model_artifacts = control._artifacts
    control.emit_state_change()
    desc = emu.wait_execution(arn)
    out = json.loads(desc["output"]) if desc["status"] == "SUCCEEDED" else {}
    return RowResult(
        "job stopped at max_run with its model",
        [desc["status"]],
        left_running(emu, executions=[arn]),
        {
            "model_usable": out.get("model_usable"),
            "model_artifact": out.get("model_artifact"),
            "cause": desc.get("cause"),
        },
    )


def row_experiment_nothing_creates(emu: Emulator, items: int = 3) -> RowResult:
    """Issue 26's risk: an experiment_config naming an experiment nothing creates. A sweep names
    its experiment after its execution (sweep_trial_config) and CreateTrainingJob refuses a job
    whose ExperimentConfig names an experiment or trial that does not exist (ResourceNotFound):
    Submit creates it first, each item adopting what a sibling created."""
    spec = make_spec()
    spec["experiment_config"] = {"ExperimentName": "fm-new-experiment"}
    spec["sweep"] = {
        "max_concurrency": items,
        "objective": {"metric": "validation:accuracy", "goal": "maximize"},
        "overrides": [{"lr": 0.1 / (i + 1)} for i in range(items)],
    }
    refused_before = len(emu.lifecycle.refused("CreateTrainingJob"))
    arn = emu.start_execution(spec)
    jobs = emu.jobs_of(arn, count=items)
    for i, job in enumerate(jobs):
        emu.sagemaker.complete(job, metrics={"validation:accuracy": 0.5 + i / 10})
    desc = emu.wait_execution(arn)
    sm = emu.client("sagemaker")
    configs = [emu.sagemaker.job(job).request.get("ExperimentConfig", {}) for job in jobs]
    # Before the fix every item ended Failed (ResourceNotFound) inside a SUCCEEDED sweep.
    results = json.loads(desc["output"]).get("results", []) if desc["status"] == "SUCCEEDED" else []
    return RowResult(
        f"experiment_config naming a new experiment, a sweep {items} wide",
        [desc["status"]],
        left_running(emu, executions=[arn]),
        {
            "experiment": sm.describe_experiment(ExperimentName="fm-new-experiment")["ExperimentName"],
            "runs": sorted(c.get("RunName", "") for c in configs),
            "items_completed": sum(1 for r in results if r.get("status") == "Completed"),
            "refused_creates": len(emu.lifecycle.refused("CreateTrainingJob")) - refused_before,
        },
    )


LIFECYCLE_ROWS = (
    "row_update_of_a_failed_endpoint",
    "row_quota_below_the_sweep_width",
    "row_max_runtime",
    "row_experiment_nothing_creates",
)
