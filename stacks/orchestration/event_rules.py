"""The EventBridge rules that drive the orchestration: one per job kind (dtrain.orchestration
.job_kinds, the one table) to the job-events Lambda, the execution-end rule to Abort and the
reconcile schedule."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from dtrain.orchestration.job_kinds import KINDS
from dtrain.orchestration.payloads import EXECUTION_STATUS_CHANGE

# dtrain.orchestration.events.ENDED_STATUSES (the stack does not import the Lambda code).
EXECUTION_ENDED_STATUSES = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
# EventBridge's retries of a failed Lambda invocation (the target's default is 185).
RETRY_ATTEMPTS = 8


def job_state_rules(
    scope: Construct, job_events_fn: lambda_.IFunction, prefix: str
) -> dict[str, events.Rule]:
    """One rule per kind, all to the same JobEvents Lambda (it tells the kinds apart by
    detail-type), for the resources of this platform (their name prefix): kind -> rule."""
    return {
        kind.kind: events.Rule(
            scope,
            kind.event_rule,
            description=kind.event_rule_description,
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[kind.event_detail_type],
                detail=kind.event_detail(prefix),
            ),
            targets=[targets.LambdaFunction(job_events_fn, retry_attempts=RETRY_ATTEMPTS)],
        )
        for kind in KINDS.values()
    }


def execution_end_rule(
    scope: Construct, abort_fn: lambda_.IFunction, state_machines: Sequence[sfn.IStateMachine]
) -> events.Rule:
    """One rule for the platform's state machines (one, or one per team)."""
    return events.Rule(
        scope,
        "ExecutionAbortedOrTimedOut",
        description="Stop the training jobs an execution leaves running, however it ended",
        event_pattern=events.EventPattern(
            source=["aws.states"],
            detail_type=[EXECUTION_STATUS_CHANGE],
            detail={
                # FAILED: a job created before Submit errored; SUCCEEDED: a sweep item whose
                # Submit failed after creating its job. Reconcile stops what a lost event misses.
                "status": list(EXECUTION_ENDED_STATUSES),
                "stateMachineArn": [sm.state_machine_arn for sm in state_machines],
            },
        ),
        targets=[targets.LambdaFunction(abort_fn, retry_attempts=RETRY_ATTEMPTS)],
    )


def reconcile_schedule(scope: Construct, reconcile_fn: lambda_.IFunction, every: Duration) -> events.Rule:
    return events.Rule(
        scope,
        "ReconcileSchedule",
        description="Close tokens of jobs whose state-change event was lost",
        schedule=events.Schedule.rate(every),
        targets=[targets.LambdaFunction(reconcile_fn)],
    )
