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

A successful single job costs 7 state transitions however long it trains (Prepare, IsSweep,
Submit, Finalize, HostsModel, Notify, Succeeded: tests/e2e/test_processing_step.py); a 60-s polling
loop costs about 3 per minute. A processing step adds 2 (Process, the second Choice), however
long it runs, and a spec without one pays nothing for it: the first Choice routes both. The
sweep runs processing once, then the Map: every item reads the same outputs. After training,
every execution passes one Choice (HostsModel); deploying or transforming adds 4 more
(CreateModel, DeployOrTransform, Deploy|Transform, FinalizeHosting), however long the
endpoint takes to come up or the transform job runs (benchmarks/state_transitions.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from dtrain.constructs.orchestration import payloads

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
class RetryPacing:
    """One Retry field of the workflow: the first wait, the number of tries, and (for the long
    waits) the cap on a wait; the backoff between is _retry's."""

    interval_s: int
    attempts: int
    max_delay_s: int | None = None


@dataclass(frozen=True)
class WorkflowTuning:
    """Retry pacing per error class; the emulator's tests shorten it (Step Functions' minimum
    is 1 s)."""

    transient: RetryPacing = RetryPacing(interval_s=2, attempts=3)
    throttle: RetryPacing = RetryPacing(interval_s=5, attempts=6)
    # Capacity: capped at 5 min between tries so a freed instance is picked up soon; 288 tries
    # reach about a day (training's default max_run), then the item fails with the quota named.
    capacity: RetryPacing = RetryPacing(interval_s=30, attempts=288, max_delay_s=300)
    # An endpoint update or creation takes minutes; 14 tries capped at 5 min wait about 50 min.
    endpoint_busy: RetryPacing = RetryPacing(interval_s=30, attempts=14, max_delay_s=300)
    notify: RetryPacing = RetryPacing(interval_s=2, attempts=4)


def _retry(task: sfn.TaskStateBase, errors: Sequence[str], pacing: RetryPacing) -> None:
    """Every retry of the workflow: exponential backoff (rate 2) with full jitter, so that many
    executions retrying at once spread out (Step Functions Developer Guide, "Handling errors in
    Step Functions workflows", JitterStrategy)."""
    task.add_retry(
        errors=list(errors),
        interval=Duration.seconds(pacing.interval_s),
        max_delay=Duration.seconds(pacing.max_delay_s) if pacing.max_delay_s is not None else None,
        max_attempts=pacing.attempts,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )


def _add_submit_retries(task: tasks.LambdaInvoke, tuning: WorkflowTuning, *, capacity: bool = True) -> None:
    if capacity:
        _retry(task, [CAPACITY_WAIT_ERROR], tuning.capacity)
    _retry(task, [THROTTLED_ERROR], tuning.throttle)
    _retry(task, [*TRANSIENT_LAMBDA_ERRORS, SAGEMAKER_TRANSIENT_ERROR], tuning.transient)


class _Workflow:
    """The states, built once each, wired by build_definition."""

    def __init__(
        self,
        scope: Construct,
        *,
        submit_fn: lambda_.IFunction,
        finalize_fn: lambda_.IFunction,
        topic: sns.ITopic,
        tuning: WorkflowTuning,
        team: str | None = None,
    ) -> None:
        self.scope, self.submit_fn, self.finalize_fn = scope, submit_fn, finalize_fn
        self.topic, self.tuning, self.team = topic, tuning, team
        self.describe_failure = self._failure_path()

    def invoke(
        self,
        id_: str,
        fn: lambda_.IFunction,
        payload: sfn.TaskInput,
        result_path: str,
        result_selector: dict[str, object] | None = None,
    ) -> tasks.LambdaInvoke:
        """A synchronous Lambda task, retried on Lambda's transient errors."""
        task = tasks.LambdaInvoke(
            self.scope,
            id_,
            lambda_function=fn,
            payload=payload,
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=result_path,
            result_selector=result_selector,
        )
        _retry(task, TRANSIENT_LAMBDA_ERRORS, self.tuning.transient)
        return task

    def wait_for_callback(
        self,
        state_id: str,
        payload: sfn.TaskInput,
        *,
        timeout_path: str,
        result_path: str,
        capacity: bool = True,
    ) -> tasks.LambdaInvoke:
        """A Submit that creates a resource and waits for its state-change callback."""
        task = tasks.LambdaInvoke(
            self.scope,
            state_id,
            lambda_function=self.submit_fn,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=payload,
            task_timeout=sfn.Timeout.at(timeout_path),
            retry_on_service_exceptions=False,
            result_path=result_path,
        )
        _add_submit_retries(task, self.tuning, capacity=capacity)
        return task

    def notify(self, state_id: str, notification_path: str) -> tasks.SnsPublish:
        task = tasks.SnsPublish(
            self.scope,
            state_id,
            topic=self.topic,
            subject=sfn.JsonPath.string_at(f"{notification_path}.subject"),
            message=sfn.TaskInput.from_json_path_at(f"{notification_path}.message"),
            result_path=sfn.JsonPath.DISCARD,
        )
        _retry(task, NOTIFY_TRANSIENT_ERRORS, self.tuning.notify)
        return task

    def on_failure(self, *states: sfn.TaskStateBase | sfn.Map) -> None:
        for state in states:
            state.add_catch(self.describe_failure, errors=[sfn.Errors.ALL], result_path="$.error")

    def _failure_path(self) -> tasks.LambdaInvoke:
        """One notification, then FAILED with the plain-words error/cause."""
        scope = self.scope
        describe_failure = self.invoke(
            "DescribeFailure", self.finalize_fn, payloads.failure_input(), "$.failure"
        )
        failed = sfn.Fail(scope, "Failed", error_path="$.failure.error", cause_path="$.failure.cause")
        notify_failure = self.notify("NotifyFailure", "$.failure.notification")
        notify_failure.add_catch(failed, result_path="$.notify_error")
        describe_failure.add_catch(
            sfn.Fail(
                scope,
                "FailureUnexplained",
                error="Dtrain.FinalizeFailed",
                cause="could not describe the failure",
            ),
            result_path="$.finalize_error",
        )
        describe_failure.next(notify_failure).next(failed)
        return describe_failure

    def submit_step(
        self, state_id: str, *, plan_path: str, item: bool, phase: str = "submit"
    ) -> tasks.LambdaInvoke:
        """A Submit that waits for the job's callback; its timeout comes from the plan."""
        process = phase == "process"
        payload = payloads.submit_input(
            phase,
            sfn.JsonPath.object_at(f"{plan_path}.spec"),
            processing=None if process else sfn.JsonPath.object_at(f"{plan_path}.processing"),
            item_index=sfn.JsonPath.number_at("$.index") if item else None,
            overrides=sfn.JsonPath.object_at("$.overrides") if item else None,
            is_sweep_item=True if item else None,
            team=self.team,
        )
        return self.wait_for_callback(
            state_id,
            payload,
            timeout_path=f"{plan_path}.processing.timeout_seconds"
            if process
            else f"{plan_path}.timeout_seconds",
            # The Process step's callback output (job name, ARN, status) replaces the plan's
            # processing entry.
            result_path="$.plan.processing" if process else "$.job",
        )

    def sweep(self) -> sfn.Map:
        """One Submit per override, bounded concurrency; a failed item is a result row."""
        submit_item = self.submit_step("SubmitItem", plan_path="$", item=True)
        item_result = self.invoke("ItemResult", self.finalize_fn, payloads.item_result_input(), "$")
        item_failed = sfn.Pass(
            self.scope,
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
            self.scope,
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
        return sweep

    def hosting_steps(self, notify: sfn.IChainable) -> sfn.Choice:
        """After training: the model, then the endpoint or the transform job, each answered by its
        state-change event like a training job (dtrain.orchestration.hosting); then Notify."""
        create_model = tasks.LambdaInvoke(
            self.scope,
            "CreateModel",
            lambda_function=self.submit_fn,
            payload=payloads.hosting_input("model", team=self.team),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path="$.model",
        )
        _add_submit_retries(create_model, self.tuning, capacity=False)
        deploy, transform = (
            self.wait_for_callback(
                state_id,
                payloads.hosting_input(
                    phase,
                    model=sfn.JsonPath.object_at("$.model"),
                    task_token=sfn.JsonPath.task_token,
                    team=self.team,
                ),
                timeout_path="$.plan.hosting.timeout_seconds",
                result_path="$.hosting",
                capacity=phase == "transform",
            )
            for state_id, phase in (("Deploy", "deploy"), ("Transform", "transform"))
        )
        _retry(deploy, [ENDPOINT_BUSY_ERROR], self.tuning.endpoint_busy)
        finalize_hosting = self.invoke(
            "FinalizeHosting", self.finalize_fn, payloads.finalize_hosting_input(), "$.final"
        )
        self.on_failure(create_model, deploy, transform, finalize_hosting)
        finalize_hosting.next(notify)
        deploy_or_transform = (
            sfn.Choice(self.scope, "DeployOrTransform")
            .when(sfn.Condition.string_equals("$.plan.hosting.kind", "deploy"), deploy.next(finalize_hosting))
            .otherwise(transform.next(finalize_hosting))
        )
        create_model.next(deploy_or_transform)
        return (
            sfn.Choice(self.scope, "HostsModel")
            .when(sfn.Condition.is_present("$.plan.hosting"), create_model)
            .otherwise(notify)
        )


def build_definition(
    scope: Construct,
    *,
    submit_fn: lambda_.IFunction,
    finalize_fn: lambda_.IFunction,
    topic: sns.ITopic,
    tuning: WorkflowTuning,
    team: str | None = None,
) -> sfn.IChainable:
    """The definition of the module docstring's picture: its states (_Workflow), wired. `team`:
    the team whose state machine this is, passed to every Submit as a literal (a platform with
    teams has one state machine per team; None: the one state machine of a platform without)."""
    w = _Workflow(scope, submit_fn=submit_fn, finalize_fn=finalize_fn, topic=topic, tuning=tuning, team=team)
    # The state becomes {"plan": ...}: the execution input (a sweep's every override) is not
    # carried on beside the plan, which holds the overrides once (issue 26 finding 7; Step
    # Functions holds a state's input and output to 256 KiB each).
    prepare = w.invoke(
        "Prepare", submit_fn, payloads.prepare_input(team), "$", {"plan": sfn.JsonPath.entire_payload}
    )
    submit = w.submit_step("Submit", plan_path="$.plan", item=False)
    finalize = w.invoke("Finalize", finalize_fn, payloads.finalize_job_input(), "$.final")
    notify = w.notify("Notify", "$.final.notification")
    # Processing: one job before training (a sweep's items all read its outputs).
    process = w.submit_step("Process", plan_path="$.plan", item=False, phase="process")
    w.on_failure(prepare, process, submit, finalize, notify)
    sweep = w.sweep()
    # The Lambda returns the whole next state, {"plan": the plan without its items, "final": ...}:
    # the ranked rows carry the overrides, so neither the items nor the unranked rows are kept
    # beside them (dtrain.orchestration.finalize.after_sweep).
    rank = w.invoke("RankSweep", finalize_fn, payloads.rank_sweep_input(), "$")
    w.on_failure(sweep, rank)
    notify.next(sfn.Succeed(scope, "Succeeded", output_path="$.final.result"))
    after_training = w.hosting_steps(notify)
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
