"""The orchestration Lambdas' own metrics on the dashboard: what each function emits in CloudWatch
embedded metric format (dtrain/orchestration/observability.py, Metric), in the namespace the
stack gives them, with the one dimension Powertools adds: `service`, the function's lambda/<folder>.
The stack does not import the Lambda code; tests/stacks keeps this table equal to Metric.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

# (widget title, ((metric, service), ...))
DASHBOARD_WIDGETS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Submit: submissions, adoptions of an earlier attempt's job, throttled creates",
        (("Submissions", "submit_job"), ("Adoptions", "submit_job"), ("ThrottledCreates", "submit_job")),
    ),
    (
        "Task tokens answered, by function (reconcile: the job's event was lost)",
        (("TokensAnswered", "job_events"), ("TokensAnswered", "reconcile"), ("TokensAnswered", "submit_job")),
    ),
)


def metric(namespace: str, name: str, service: str) -> cw.Metric:
    return cw.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"service": service},
        statistic="Sum",
        period=Duration.minutes(5),
        label=f"{name} ({service})",
    )


def widgets(namespace: str) -> list[cw.IWidget]:
    return [
        cw.GraphWidget(title=title, left=[metric(namespace, name, service) for name, service in series])
        for title, series in DASHBOARD_WIDGETS
    ]
