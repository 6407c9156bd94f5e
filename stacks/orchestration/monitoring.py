"""The orchestration's alarms (to the notification topic) and its dashboard."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from dtrain.constructs.orchestration.lambda_metrics import widgets as lambda_metric_widgets
from dtrain.constructs.orchestration.sagemaker_metrics import search_expression


def _alarm(scope: Construct, id_: str, metric: cw.IMetric, description: str, alarm_name: str) -> cw.Alarm:
    return cw.Alarm(
        scope,
        id_,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
        alarm_name=alarm_name,
    )


def add_alarms(
    scope: Construct,
    *,
    state_machine: sfn.StateMachine,
    functions: Mapping[str, lambda_.Function],
    topic: sns.ITopic,
    alarm_name_prefix: str,
) -> None:
    """A failed execution, and errors of each Lambda (by its short name), alarm the topic."""
    action = cw_actions.SnsAction(topic)
    failed = _alarm(
        scope,
        "ExecutionsFailed",
        state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
        "A training execution failed",
        f"{alarm_name_prefix}ExecutionsFailed",
    )
    failed.add_alarm_action(action)
    for name, fn in functions.items():
        alarm = _alarm(
            scope,
            f"{name}Errors",
            fn.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            f"The {name} Lambda raised errors",
            f"{alarm_name_prefix}{name}Errors",
        )
        alarm.add_alarm_action(action)


def add_execution_alarm(
    scope: Construct, state_machine: sfn.StateMachine, topic: sns.ITopic, alarm_name_prefix: str, head: str
) -> None:
    """A failed execution of one more state machine (a team's: `head` `Team<Team>`) alarms the topic;
    its name keeps the prefix the topic and key policies admit."""
    failed = _alarm(
        scope,
        f"{head}ExecutionsFailed",
        state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
        f"A training execution failed ({head})",
        f"{alarm_name_prefix}{head}ExecutionsFailed",
    )
    failed.add_alarm_action(cw_actions.SnsAction(topic))


def _execution_widgets(sm: sfn.StateMachine, title: str) -> list[cw.IWidget]:
    """A state machine's executions by outcome, and their durations (`title`: "Executions", or
    "Executions: team <team>", which the durations' title carries on)."""
    return [
        cw.GraphWidget(
            title=title,
            left=[
                sm.metric_started(statistic="Sum"),
                sm.metric_succeeded(statistic="Sum"),
                sm.metric_failed(statistic="Sum"),
                sm.metric_aborted(statistic="Sum"),
            ],
        ),
        cw.GraphWidget(
            title=f"Execution duration (job durations){title.removeprefix('Executions')}",
            left=[sm.metric_time(statistic="Average")],
        ),
    ]


def add_dashboard(
    scope: Construct,
    *,
    dashboard_name: str,
    state_machines: Mapping[str, sfn.StateMachine],
    functions: Mapping[str, lambda_.Function],
    job_name_prefix: str,
    metrics_namespace: str,
) -> cw.Dashboard:
    """One dashboard: executions and their durations (one row per team's state machine when there
    are several; the one state machine's beside the Lambdas' errors otherwise), the Lambdas'
    errors, the jobs' GPU and training metrics (every team's: the platform's job-name prefix), and
    the Lambdas' own metrics."""

    def search(metric_name: str, stat: str, label: str) -> cw.MathExpression:
        # Jobs come and go: SEARCH finds every series of this platform's jobs, in the
        # namespace and dimension SageMaker publishes them under (sagemaker_metrics).
        return cw.MathExpression(
            expression=search_expression(metric_name, job_name_prefix, stat, 300),
            label=label,
            period=Duration.minutes(5),
        )

    dashboard = cw.Dashboard(scope, "Dashboard", dashboard_name=dashboard_name)
    errors = cw.GraphWidget(
        title="Lambda errors", left=[fn.metric_errors(statistic="Sum") for fn in functions.values()]
    )
    if len(state_machines) == 1:
        (sm,) = state_machines.values()
        dashboard.add_widgets(*_execution_widgets(sm, "Executions"), errors)
    else:  # a platform with teams: each team's executions on a row of its own
        for team, sm in state_machines.items():
            dashboard.add_widgets(*_execution_widgets(sm, f"Executions: team {team}"))
        dashboard.add_widgets(errors)
    dashboard.add_widgets(
        cw.GraphWidget(
            title="GPU utilization (running jobs)", left=[search("GPUUtilization", "Average", "GPU %")]
        ),
        cw.GraphWidget(
            title="Training metrics (metric definitions)",
            left=[
                search("train:loss", "Average", "train:loss"),
                search("validation:accuracy", "Average", "validation:accuracy"),
            ],
            right=[search("train:throughput", "Average", "samples/s")],
        ),
    )
    # The Lambdas' EMF metrics (stacks/orchestration/lambda_metrics.py).
    dashboard.add_widgets(*lambda_metric_widgets(metrics_namespace))
    return dashboard
