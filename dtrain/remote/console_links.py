"""AWS console links for what a job is made of, in the partition of its region.

Links are built, never fetched: they work offline and against the emulator (where they point
at the real console, which is what a user would open after deploying for real).
"""

from __future__ import annotations

from urllib.parse import quote

SAGEMAKER_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# Where SageMaker writes a processing job's container output, one stream per host named
# `<job>/<host>-<epoch seconds>` ("Log groups and streams that Amazon SageMaker AI sends to
# Amazon CloudWatch Logs", https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html).
SAGEMAKER_PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def console_host(region: str) -> str:
    if region.startswith("cn-"):
        return f"https://{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return f"https://{region}.console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def execution_link(region: str, execution_arn: str) -> str:
    return f"{console_host(region)}/states/home?region={region}#/v2/executions/details/{execution_arn}"


def training_job_link(region: str, job_name: str) -> str:
    return f"{console_host(region)}/sagemaker/home?region={region}#/jobs/{job_name}"


def _console_escape(text: str) -> str:
    # The CloudWatch console's fragment uses "$25"-style escaping of an already %-escaped path.
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def training_logs_link(region: str, job_name: str, *, group_name: str = SAGEMAKER_LOG_GROUP) -> str:
    group = _console_escape(group_name)
    stream_filter = "$3FlogStreamNameFilter$3D" + _console_escape(f"{job_name}/")
    return (
        f"{console_host(region)}/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{group}/log-events{stream_filter}"
    )


def processing_logs_link(region: str, job_name: str) -> str:
    return training_logs_link(region, job_name, group_name=SAGEMAKER_PROCESSING_LOG_GROUP)
