"""What SageMaker publishes to CloudWatch for training jobs, and SEARCH expressions over it.

Sources:
- Instance metrics (GPUUtilization, CPUUtilization, ...): namespace `/aws/sagemaker/TrainingJobs`,
  dimension `Host` = `<training-job-name>/algo-<instance-number>`
  (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html, "SageMaker AI job
  metrics" and "Dimensions for ... Training ... Job Metrics").
- Metric-definition metrics (what the job's MetricDefinitions regexes extract from its logs):
  namespace `/aws/sagemaker/TrainingJobs`, dimension `TrainingJobName`
  (https://docs.aws.amazon.com/sagemaker/latest/dg/training-metrics.html; the SageMaker Python
  SDK's TrainingJobAnalytics queries exactly this namespace and dimension).
- SEARCH syntax: a namespace with non-alphanumeric characters is double-quoted in the schema;
  a double-quoted search term matches a whole value exactly, an unquoted term matches a token of
  it, values being split into tokens at non-alphanumeric characters
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html).
  So the platform's jobs are found by the prefix's tokens, unquoted: `Host="dtrain-"` matched
  nothing, since no host is named exactly "dtrain-".
"""

from __future__ import annotations

import re

TRAINING_JOBS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
HOST_DIMENSION = "Host"
JOB_NAME_DIMENSION = "TrainingJobName"

# metric name -> the dimension SageMaker publishes it under (instance vs metric-definition).
INSTANCE_METRICS = frozenset(
    {"CPUUtilization", "MemoryUtilization", "DiskUtilization", "GPUUtilization", "GPUMemoryUtilization"}
)


def dimension_for(metric_name: str) -> str:
    return HOST_DIMENSION if metric_name in INSTANCE_METRICS else JOB_NAME_DIMENSION


def prefix_tokens(prefix: str) -> list[str]:
    """The job-name prefix as CloudWatch's search tokens (split at non-alphanumerics)."""
    return [t for t in re.split(r"[^A-Za-z0-9]+", prefix) if t]


def search_expression(metric_name: str, prefix: str, stat: str, period_s: int) -> str:
    schema = f'{{"{TRAINING_JOBS_NAMESPACE}",{dimension_for(metric_name)}}}'
    terms = " ".join([f'MetricName="{metric_name}"', *prefix_tokens(prefix)])
    return f"SEARCH('{schema} {terms}', '{stat}', {period_s})"
