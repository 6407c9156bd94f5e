"""Finalize's `hosting` mode: the execution's result and message once the model is hosted.

The training result (one job's, or a sweep's ranked one) gains `model` and `endpoint` or
`transform`, from DescribeEndpoint / DescribeTransformJob; the notification is the training
one with the hosting outcome added, so one message says what was trained and where it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dtrain.orchestration.outcome import console_link, success_message


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def endpoint_summary(desc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "endpoint_name": desc.get("EndpointName"),
        "endpoint_arn": desc.get("EndpointArn"),
        "endpoint_config_name": desc.get("EndpointConfigName"),
        "status": desc.get("EndpointStatus"),
        "last_modified": _iso(desc.get("LastModifiedTime")),
    }


def transform_summary(desc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "transform_job_name": desc.get("TransformJobName"),
        "transform_job_arn": desc.get("TransformJobArn"),
        "status": desc.get("TransformJobStatus"),
        "output_path": (desc.get("TransformOutput") or {}).get("S3OutputPath"),
        "input": ((desc.get("TransformInput") or {}).get("DataSource") or {})
        .get("S3DataSource", {})
        .get("S3Uri"),
        "failure_reason": desc.get("FailureReason"),
    }


def _training_lines(training: Mapping[str, Any], region: str, execution_arn: str) -> tuple[str, list[str]]:
    if "best" in training:  # a sweep: its best trial was hosted
        best = training.get("best") or {}
        count = len(training.get("results") or [])
        lines = [f"Sweep of {count} jobs; best {best.get('job_name')} ({best.get('objective')})."]
        return f"sweep of {count}", lines
    message = success_message(training, region=region, execution_arn=execution_arn)
    lines = [line for line in message["message"].splitlines() if not line.startswith("Execution:")]
    return str(training.get("job_name")), lines


def finalize_hosting(
    sagemaker: Any,
    *,
    kind: str,
    training: Mapping[str, Any],
    model: Mapping[str, Any],
    hosting: Mapping[str, Any],
    region: str,
    execution_arn: str,
) -> dict[str, Any]:
    result = dict(training)
    result["model"] = dict(model)
    name, lines = _training_lines(training, region, execution_arn)
    if kind == "deploy":
        # The Deploy task's output is the callback's (the config it waited on); the model step
        # named the endpoint.
        desc = sagemaker.describe_endpoint(EndpointName=str(model.get("endpoint_name")))
        summary = endpoint_summary(desc)
        result["endpoint"] = summary
        config = summary["endpoint_config_name"]
        lines.append(f"Endpoint {summary['endpoint_name']} {summary['status']} (config {config}).")
        subject = f"dtrain: {name} deployed to {summary['endpoint_name']}"
    else:
        desc = sagemaker.describe_transform_job(TransformJobName=str(hosting.get("job_name")))
        summary = transform_summary(desc)
        result["transform"] = summary
        lines.append(
            f"Transform job {summary['transform_job_name']} {summary['status']}: {summary['output_path']}"
        )
        subject = f"dtrain: {name} transform {summary['status']}"
    lines.append(f"Execution: {console_link(region, execution_arn)}")
    return {"result": result, "notification": {"subject": subject[:99], "message": "\n".join(lines)}}
