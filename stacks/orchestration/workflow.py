"""The state machine definition: Prepare -> [Process] -> Submit (callback) -> Finalize -> Notify.

    Prepare (validate, plan, derive the wait timeouts)
      -> IsSweep? -- processing -> Process (waitForTaskToken) -> IsSweepAfterProcessing? (as below)
                  -- no  --> Submit (waitForTaskToken) -> Finalize -> Notify -> Succeeded
                  -- yes --> Sweep (Map, max_concurrency from the spec)
                               [SubmitItem -> ItemResult | ItemFailed]
                             -> RankSweep -> Notify -> Succeeded
    after Finalize / RankSweep, when the spec has `deploy` or `transform` (plan.hosting):
      HostsModel? -- yes --> CreateModel -> DeployOrTransform?
                               -- deploy    --> Deploy (waitForTaskToken: endpoint InService)
                               -- transform --> Transform (waitForTaskToken: job Completed)
                             -> FinalizeHosting -> Notify
                  -- no  --> Notify
    any failure -> DescribeFailure -> NotifyFailure -> Failed (error/cause in plain words)

A successful single job costs 6 state transitions however long it trains; a 60-s polling
loop costs about 3 per minute. A processing step adds 2 (Process, the second Choice), however
long it runs, and a spec without one pays nothing for it: the first Choice routes both. The
sweep runs processing once, then the Map: every item reads the same outputs. After training,
every execution passes one Choice (HostsModel); deploying or transforming adds 4 more
(CreateModel, DeployOrTransform, Deploy|Transform, FinalizeHosting), however long the
endpoint takes to come up or the transform job runs (benchmarks/state_transitions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

# Lambda-side transient errors (service hiccups, a Submit that timed out after it created
# the job): retried; Submit's idempotency turns the retry into an adoption, not a 2nd job.
TRANSIENT_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "Sandbox.Timedout",
    # The Lambda service's own unexplained failure; retrying is cheap and safe here.
    "Lambda.Unknown",
]
THROTTLED_ERROR = "CreateThrottled"
# Submit's name for SageMaker 5xx/throttling/time-outs that outlasted botocore's retries
# (dtrain.orchestration.errors.SageMakerTransient); Submit is idempotent, so retrying adopts.
SAGEMAKER_TRANSIENT_ERROR = "SageMakerTransient"
# ResourceLimitExceeded on a create that fits the quota once other jobs end (a sweep wider than
# the account's instance quota): the step waits for capacity (dtrain.orchestration.capacity).
CAPACITY_WAIT_ERROR = "CapacityWait"
# Deploy to an endpoint SageMaker will not update now (Creating, Updating, a Failed one being
# deleted): retried until it can (dtrain.orchestration.hosting).
ENDPOINT_BUSY_ERROR = "EndpointBusy"
# Notify / NotifyFailure (the sns:publish integration names a failure `SNS.<exception>`): SNS's
# throttle, KMS's throttle on the encrypted topic, and their internal errors are retried; a run
# that succeeded is not failed by a throttled notification.
NOTIFY_TRANSIENT_ERRORS = [
    "SNS.ThrottledException",
    "SNS.KMSThrottlingException",
    "SNS.InternalErrorException",
    "SNS.SdkClientException",
]


@dataclass(frozen=True)
class WorkflowTuning:
    """Retry pacing; the emulator's tests shorten it (Step Functions' minimum is 1 s)."""

    transient_retry_interval_s: int = 2
    transient_retry_attempts: int = 3
    throttle_retry_interval_s: int = 5
    throttle_retry_attempts: int = 6
    # Capacity: capped at 5 min between tries so a freed instance is picked up soon; 288 tries
    # reach about a day (training's default max_run), then the item fails with the quota named.
    capacity_retry_interval_s: int = 30
    capacity_retry_max_delay_s: int = 300
    capacity_retry_attempts: int = 288
    # An endpoint update or creation takes minutes; 14 tries capped at 5 min wait about 50 min.
    endpoint_busy_retry_interval_s: int = 30
    endpoint_busy_retry_max_delay_s: int = 300
    endpoint_busy_retry_attempts: int = 14
    notify_retry_interval_s: int = 2
    notify_retry_attempts: int = 4


def _submit_payload(*, plan_path: str, item: bool, phase: str = "submit") -> sfn.TaskInput:
    payload: dict[str, object] = {
        "phase": phase,
        "spec": sfn.JsonPath.object_at(f"{plan_path}.spec"),
        "task_token": sfn.JsonPath.task_token,
        "execution_arn": sfn.JsonPath.execution_id,
        "execution_name": sfn.JsonPath.execution_name,
        "retry_count": sfn.JsonPath.number_at("$$.State.RetryCount"),
        # No redrive count: every failure is caught and ends in the Fail state, so a redrive
        # would restart at that Fail state and never reach Submit again. The start time
        # tells apart two executions of one name (names may be reused after 90 days).
        "execution_start": sfn.JsonPath.string_at("$$.Execution.StartTime"),
    }
    if phase == "submit":
        # The Process step's callback output (its job's name: training reads its outputs), or
        # null without a processing step.
        payload["processing"] = sfn.JsonPath.object_at(f"{plan_path}.processing")
    if item:
        payload.update(
            {
                "item_index": sfn.JsonPath.number_at("$.index"),
                "overrides": sfn.JsonPath.object_at("$.overrides"),
                "is_sweep_item": True,
            }
        )
    return sfn.TaskInput.from_object(payload)


def _hosting_payload(phase: str, *, wait: bool) -> sfn.TaskInput:
    """A hosting phase of the Submit Lambda (dtrain.orchestration.hosting)."""
    payload: dict[str, object] = {
        "phase": phase,
        "spec": sfn.JsonPath.object_at("$.plan.spec"),
        "training": sfn.JsonPath.object_at("$.final.result"),
        "execution_arn": sfn.JsonPath.execution_id,
        "execution_name": sfn.JsonPath.execution_name,
        "execution_start": sfn.JsonPath.string_at("$$.Execution.StartTime"),
    }
    if phase != "model":
        payload["model"] = sfn.JsonPath.object_at("$.model")
    if wait:
        payload["task_token"] = sfn.JsonPath.task_token
    return sfn.TaskInput.from_object(payload)


def _add_submit_retries(task: tasks.LambdaInvoke, tuning: WorkflowTuning, *, capacity: bool = True) -> None:
    if capacity:
        task.add_retry(
            errors=[CAPACITY_WAIT_ERROR],
            interval=Duration.seconds(tuning.capacity_retry_interval_s),
            max_delay=Duration.seconds(tuning.capacity_retry_max_delay_s),
            max_attempts=tuning.capacity_retry_attempts,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
    task.add_retry(
        errors=[THROTTLED_ERROR],
        interval=Duration.seconds(tuning.throttle_retry_interval_s),
        max_attempts=tuning.throttle_retry_attempts,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )
    task.add_retry(
        errors=[*TRANSIENT_LAMBDA_ERRORS, SAGEMAKER_TRANSIENT_ERROR],
        interval=Duration.seconds(tuning.transient_retry_interval_s),
        max_attempts=tuning.transient_retry_attempts,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )


def _add_notify_retries(task: tasks.SnsPublish, tuning: WorkflowTuning) -> None:
    task.add_retry(
        errors=NOTIFY_TRANSIENT_ERRORS,
        interval=Duration.seconds(tuning.notify_retry_interval_s),
        max_attempts=tuning.notify_retry_attempts,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )


def build_definition(
    scope: Construct,
    *,
    submit_fn: lambda_.IFunction,
    finalize_fn: lambda_.IFunction,
    topic: sns.ITopic,
    tuning: WorkflowTuning,
) -> sfn.IChainable:
    def invoke(
        id_: str,
        fn: lambda_.IFunction,
        payload: dict[str, object],
        result_path: str,
        result_selector: dict[str, object] | None = None,
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            scope,
            id_,
            lambda_function=fn,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=result_path,
            result_selector=result_selector,
        )
        task.add_retry(
            errors=TRANSIENT_LAMBDA_ERRORS,
            interval=Duration.seconds(tuning.transient_retry_interval_s),
            max_attempts=tuning.transient_retry_attempts,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task

    # -- failure path: one notification, then FAILED with the plain-words error/cause.
    describe_failure = invoke(
        "DescribeFailure",
        finalize_fn,
        {
            "mode": "failure",
            "error": sfn.JsonPath.object_at("$.error"),
            "execution_arn": sfn.JsonPath.execution_id,
            "execution_name": sfn.JsonPath.execution_name,
        },
        "$.failure",
    )
    failed = sfn.Fail(scope, "Failed", error_path="$.failure.error", cause_path="$.failure.cause")
    notify_failure = tasks.SnsPublish(
        scope,
        "NotifyFailure",
        topic=topic,
        subject=sfn.JsonPath.string_at("$.failure.notification.subject"),
        message=sfn.TaskInput.from_json_path_at("$.failure.notification.message"),
        result_path=sfn.JsonPath.DISCARD,
    )
    _add_notify_retries(notify_failure, tuning)
    notify_failure.add_catch(failed, result_path="$.notify_error")
    describe_failure.add_catch(
        sfn.Fail(
            scope, "FailureUnexplained", error="Dtrain.FinalizeFailed", cause="could not describe the failure"
        ),
        result_path="$.finalize_error",
    )
    describe_failure.next(notify_failure).next(failed)

    def on_failure(task: sfn.TaskStateBase | sfn.Map) -> None:
        task.add_catch(describe_failure, errors=[sfn.Errors.ALL], result_path="$.error")

    def submit_task(
        state_id: str, *, plan_path: str, item: bool, phase: str = "submit", result_path: str = "$.job"
    ) -> tasks.LambdaInvoke:
        """A Submit that waits for the job's callback; its timeout comes from the plan."""
        timeout_path = (
            f"{plan_path}.processing.timeout_seconds"
            if phase == "process"
            else f"{plan_path}.timeout_seconds"
        )
        task = tasks.LambdaInvoke(
            scope,
            state_id,
            lambda_function=submit_fn,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=_submit_payload(plan_path=plan_path, item=item, phase=phase),
            task_timeout=sfn.Timeout.at(timeout_path),
            retry_on_service_exceptions=False,
            result_path=result_path,
        )
        _add_submit_retries(task, tuning)
        return task

    # -- single job
    # The state becomes {"plan": ...}: the execution input (a sweep's every override) is not
    # carried on beside the plan, which holds the overrides once (issue 26 finding 7; Step
    # Functions holds a state's input and output to 256 KiB each).
    prepare = invoke(
        "Prepare",
        submit_fn,
        {"phase": "prepare", "spec": sfn.JsonPath.entire_payload},
        "$",
        {"plan": sfn.JsonPath.entire_payload},
    )
    submit = submit_task("Submit", plan_path="$.plan", item=False)
    finalize = invoke(
        "Finalize",
        finalize_fn,
        {
            "mode": "job",
            "job_name": sfn.JsonPath.string_at("$.job.job_name"),
            "execution_arn": sfn.JsonPath.execution_id,
        },
        "$.final",
    )
    notify = tasks.SnsPublish(
        scope,
        "Notify",
        topic=topic,
        subject=sfn.JsonPath.string_at("$.final.notification.subject"),
        message=sfn.TaskInput.from_json_path_at("$.final.notification.message"),
        result_path=sfn.JsonPath.DISCARD,
    )
    _add_notify_retries(notify, tuning)
    done = sfn.Succeed(scope, "Succeeded", output_path="$.final.result")
    # -- processing: one job before training (a sweep's items all read its outputs); its
    # callback output (job name, ARN, status) replaces the plan's processing entry.
    process = submit_task(
        "Process", plan_path="$.plan", item=False, phase="process", result_path="$.plan.processing"
    )
    for task in (prepare, process, submit, finalize, notify):
        on_failure(task)

    # -- sweep: one Submit per override, bounded concurrency, a failed item is a result row
    submit_item = submit_task("SubmitItem", plan_path="$", item=True)
    item_result = invoke(
        "ItemResult",
        finalize_fn,
        {
            "mode": "item",
            "job_name": sfn.JsonPath.string_at("$.job.job_name"),
            "index": sfn.JsonPath.number_at("$.index"),
            "objective_metric": sfn.JsonPath.string_at("$.objective_metric"),
        },
        "$",
    )
    item_failed = sfn.Pass(
        scope,
        "ItemFailed",
        # Only the error's name: a Lambda error's Cause (a stack trace) in 200 rows would
        # take most of the 256 KiB; RankSweep adds the job's FailureReason from the ledger.
        parameters={
            "index": sfn.JsonPath.number_at("$.index"),
            "status": "Failed",
            "error": sfn.JsonPath.string_at("$.error.Error"),
        },
    )
    submit_item.add_catch(item_failed, errors=[sfn.Errors.ALL], result_path="$.error")
    item_result.add_catch(item_failed, errors=[sfn.Errors.ALL], result_path="$.error")
    # Each row is slim (dtrain.orchestration.finalize.slim_item_row): a 200-item sweep of full
    # DescribeTrainingJob results passed Step Functions' 256 KiB state limit.
    sweep = sfn.Map(
        scope,
        "Sweep",
        items_path="$.plan.items",
        max_concurrency_path="$.plan.max_concurrency",
        item_selector={
            "index": sfn.JsonPath.number_at("$$.Map.Item.Value.index"),
            "overrides": sfn.JsonPath.object_at("$$.Map.Item.Value.overrides"),
            "timeout_seconds": sfn.JsonPath.number_at("$$.Map.Item.Value.timeout_seconds"),
            "spec": sfn.JsonPath.object_at("$.plan.spec"),
            "processing": sfn.JsonPath.object_at("$.plan.processing"),
            "objective_metric": sfn.JsonPath.string_at("$.plan.objective.metric"),
        },
        result_path="$.sweep_results",
    )
    sweep.item_processor(submit_item.next(item_result))
    rank = invoke(
        "RankSweep",
        finalize_fn,
        {
            "mode": "sweep",
            "results": sfn.JsonPath.object_at("$.sweep_results"),
            "plan": sfn.JsonPath.object_at("$.plan"),
            "execution_arn": sfn.JsonPath.execution_id,
        },
        # The Lambda returns the whole next state, {"plan": the plan without its items,
        # "final": ...}: the ranked rows carry the overrides, so neither the items nor the
        # unranked rows are kept beside them (dtrain.orchestration.finalize.after_sweep).
        "$",
    )
    on_failure(sweep)
    on_failure(rank)

    notify.next(done)
    after_training = _hosting_steps(
        scope,
        submit_fn=submit_fn,
        finalize_fn=finalize_fn,
        invoke=invoke,
        tuning=tuning,
        on_failure=on_failure,
        notify=notify,
    )
    sweep_path = sweep.next(rank).next(after_training)
    single_path = submit.next(finalize).next(after_training)
    is_sweep_condition = sfn.Condition.boolean_equals("$.plan.is_sweep", True)
    after_processing = (
        sfn.Choice(scope, "IsSweepAfterProcessing")
        .when(is_sweep_condition, sweep_path)
        .otherwise(single_path)
    )
    is_sweep = (
        sfn.Choice(scope, "IsSweep")
        .when(sfn.Condition.boolean_equals("$.plan.has_processing", True), process.next(after_processing))
        .when(is_sweep_condition, sweep_path)
        .otherwise(single_path)
    )
    return prepare.next(is_sweep)


def _hosting_steps(
    scope: Construct,
    *,
    submit_fn: lambda_.IFunction,
    finalize_fn: lambda_.IFunction,
    invoke: Callable[[str, lambda_.IFunction, dict[str, object], str], tasks.LambdaInvoke],
    tuning: WorkflowTuning,
    on_failure: Callable[[sfn.TaskStateBase], None],
    notify: sfn.IChainable,
) -> sfn.Choice:
    """After training: the model, then the endpoint or the transform job, each answered by its
    state-change event like a training job (dtrain.orchestration.hosting); then Notify."""
    create_model = tasks.LambdaInvoke(
        scope,
        "CreateModel",
        lambda_function=submit_fn,
        payload=_hosting_payload("model", wait=False),
        payload_response_only=True,
        retry_on_service_exceptions=False,
        result_path="$.model",
    )
    _add_submit_retries(create_model, tuning, capacity=False)

    def wait_task(state_id: str, phase: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            scope,
            state_id,
            lambda_function=submit_fn,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=_hosting_payload(phase, wait=True),
            task_timeout=sfn.Timeout.at("$.plan.hosting.timeout_seconds"),
            retry_on_service_exceptions=False,
            result_path="$.hosting",
        )
        _add_submit_retries(task, tuning, capacity=phase == "transform")
        return task

    deploy = wait_task("Deploy", "deploy")
    deploy.add_retry(
        errors=[ENDPOINT_BUSY_ERROR],
        interval=Duration.seconds(tuning.endpoint_busy_retry_interval_s),
        max_delay=Duration.seconds(tuning.endpoint_busy_retry_max_delay_s),
        max_attempts=tuning.endpoint_busy_retry_attempts,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )
    transform = wait_task("Transform", "transform")
    finalize_hosting = invoke(
        "FinalizeHosting",
        finalize_fn,
        {
            "mode": "hosting",
            "kind": sfn.JsonPath.string_at("$.plan.hosting.kind"),
            "training": sfn.JsonPath.object_at("$.final.result"),
            "model": sfn.JsonPath.object_at("$.model"),
            "hosting": sfn.JsonPath.object_at("$.hosting"),
            "execution_arn": sfn.JsonPath.execution_id,
        },
        "$.final",
    )
    for task in (create_model, deploy, transform, finalize_hosting):
        on_failure(task)
    finalize_hosting.next(notify)
    deploy_or_transform = (
        sfn.Choice(scope, "DeployOrTransform")
        .when(sfn.Condition.string_equals("$.plan.hosting.kind", "deploy"), deploy.next(finalize_hosting))
        .otherwise(transform.next(finalize_hosting))
    )
    create_model.next(deploy_or_transform)
    return (
        sfn.Choice(scope, "HostsModel")
        .when(sfn.Condition.is_present("$.plan.hosting"), create_model)
        .otherwise(notify)
    )
