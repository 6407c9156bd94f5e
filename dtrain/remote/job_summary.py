"""One job's story in one structure: what `dtrain status` prints and `--wait` ends with.

Built from the execution, the ledger rows, DescribeTrainingJob and (for the processing step)
DescribeProcessingJob, never from guesses: a
field AWS has not filled yet is absent (None), not zero. Spot savings are computed as AWS
defines them, 1 - BillableTimeInSeconds / TrainingTimeInSeconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dtrain.remote.console_links import (
    execution_link,
    processing_logs_link,
    training_job_link,
    training_logs_link,
)
from dtrain.remote.experiments import runs_table, user_hyperparameters
from dtrain.remote.job_lookup import ResolvedJob


def iso(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if value not in (None, "") else None


def spot_savings(training_seconds: object, billable_seconds: object) -> float | None:
    """Percent saved by managed spot training: 100 * (1 - billable / training)."""
    if not isinstance(training_seconds, int | float) or not isinstance(billable_seconds, int | float):
        return None
    if training_seconds <= 0:
        return None
    return round(100.0 * (1.0 - billable_seconds / training_seconds), 1)


def spec_summary_from_input(execution_input: str | None) -> dict[str, Any]:
    """A short summary of the spec an execution was started with (its input)."""
    try:
        spec = json.loads(execution_input or "{}")
    except ValueError:
        return {}
    if not isinstance(spec, dict):
        return {}
    estimator = spec.get("estimator") if isinstance(spec.get("estimator"), dict) else {}
    assert isinstance(estimator, dict)
    distribution = estimator.get("distribution")
    summary: dict[str, Any] = {
        "framework": spec.get("framework"),
        "job_name": spec.get("job_name"),
        "entry_point": estimator.get("entry_point"),
        "image_uri": estimator.get("image_uri"),
        "instance_type": estimator.get("instance_type"),
        "instance_count": estimator.get("instance_count"),
        "distribution": ",".join(sorted(distribution)) if isinstance(distribution, dict) else None,
        "spot": estimator.get("use_spot_instances"),
    }
    sweep = spec.get("sweep")
    if isinstance(sweep, dict):
        # The sweep's list of hyperparameter overrides: one job per entry.
        lists = [value for value in sweep.values() if isinstance(value, list)]
        summary["sweep_size"] = len(lists[0]) if lists else None
    return {key: value for key, value in summary.items() if value is not None}


def training_job_summary(region: str, described: Mapping[str, Any]) -> dict[str, Any]:
    name = str(described["TrainingJobName"])
    transitions = [
        {
            "status": t.get("Status"),
            "start": iso(t.get("StartTime")),
            "end": iso(t.get("EndTime")),
            "message": t.get("StatusMessage"),
        }
        for t in described.get("SecondaryStatusTransitions", [])
    ]
    spot = bool(described.get("EnableManagedSpotTraining"))
    training = described.get("TrainingTimeInSeconds")
    billable = described.get("BillableTimeInSeconds")
    resources = described.get("ResourceConfig", {})
    return {
        "name": name,
        "arn": described.get("TrainingJobArn"),
        "status": described.get("TrainingJobStatus"),
        "secondary_status": described.get("SecondaryStatus"),
        "failure_reason": described.get("FailureReason"),
        "instance_type": resources.get("InstanceType"),
        "instance_count": resources.get("InstanceCount"),
        "created": iso(described.get("CreationTime")),
        "started": iso(described.get("TrainingStartTime")),
        "ended": iso(described.get("TrainingEndTime")),
        "training_seconds": training,
        "billable_seconds": billable,
        "spot": spot,
        "spot_savings_percent": spot_savings(training, billable) if spot else None,
        "interruptions": sum(1 for t in transitions if t["status"] == "Interrupted"),
        "transitions": transitions,
        "metrics": {str(m["MetricName"]): m.get("Value") for m in described.get("FinalMetricDataList", [])},
        "experiment": described.get("ExperimentConfig") or None,
        "hyperparameters": user_hyperparameters(described),
        "model_artifact": described.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
        # estimator.tensorboard_output_config: where SageMaker syncs the TensorBoard files.
        "tensorboard": described.get("TensorBoardOutputConfig", {}).get("S3OutputPath"),
        "console_url": training_job_link(region, name),
        "logs_url": training_logs_link(region, name),
    }


def processing_job_summary(region: str, described: Mapping[str, Any]) -> dict[str, Any]:
    """The live DescribeProcessingJob answer of the execution's processing step."""
    name = str(described["ProcessingJobName"])
    cluster = (described.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    return {
        "name": name,
        "kind": "processing",
        "arn": described.get("ProcessingJobArn"),
        "status": described.get("ProcessingJobStatus"),
        "failure_reason": described.get("FailureReason"),
        "exit_message": described.get("ExitMessage"),
        "instance_type": cluster.get("InstanceType"),
        "instance_count": cluster.get("InstanceCount"),
        "created": iso(described.get("CreationTime")),
        "started": iso(described.get("ProcessingStartTime")),
        "ended": iso(described.get("ProcessingEndTime")),
        "outputs": {
            str(o["OutputName"]): (o.get("S3Output") or {}).get("S3Uri")
            for o in (described.get("ProcessingOutputConfig") or {}).get("Outputs", [])
        },
        "logs_url": processing_logs_link(region, name),
    }


def summarize(region: str, resolved: ResolvedJob) -> dict[str, Any]:
    """The JSON document of `dtrain status --json`."""
    result: dict[str, Any] = {"query": resolved.query}
    execution = resolved.execution
    if execution is not None:
        result["execution"] = {
            "name": execution.get("name"),
            "arn": execution.get("executionArn"),
            "status": execution.get("status"),
            "started": iso(execution.get("startDate")),
            "stopped": iso(execution.get("stopDate")),
            "error": execution.get("error"),
            "cause": execution.get("cause"),
            "console_url": execution_link(region, str(execution.get("executionArn"))),
        }
    spec: dict[str, Any] = {}
    if resolved.rows:
        spec = dict(resolved.rows[0].spec_summary)
    if not spec and execution is not None:
        spec = spec_summary_from_input(execution.get("input"))
    result["spec"] = spec
    result["jobs"] = []
    for name in resolved.job_names:
        row = next((r for r in resolved.rows if r.job_name == name), None)
        described = resolved.training_jobs.get(name)
        processed = resolved.processing_jobs.get(name)
        if processed is not None:
            job = processing_job_summary(region, processed)
        elif described is not None:
            job = training_job_summary(region, described)
        else:
            job = {"name": name, "status": row.status if row else "Unknown"}
        if row is not None and row.failure_reason and not job.get("failure_reason"):
            job["failure_reason"] = row.failure_reason
        if row is not None and row.kind != "training":
            job["kind"] = row.kind  # the processing step's job (dtrain.orchestration.job_kinds)
        result["jobs"].append(job)
    result["hosting"] = [
        hosting_summary(row, resolved.hosting.get(row.job_name)) for row in resolved.hosting_rows
    ]
    # A sweep's trials are runs of one experiment: side by side (dtrain.jobspec.experiment_config).
    runs = [
        {
            "run_name": (job.get("experiment") or {}).get("RunName"),
            "job_name": job["name"],
            "status": job.get("status"),
            "hyperparameters": job.get("hyperparameters") or {},
            "final_metrics": job.get("metrics") or {},
        }
        for job in result["jobs"]
        if job.get("experiment")
    ]
    if runs:
        names = {str((job.get("experiment") or {}).get("ExperimentName")) for job in result["jobs"]}
        result["experiment"] = {"name": ", ".join(sorted(names - {"None"})), "runs": runs}
    return result


def hosting_summary(row: Any, described: Mapping[str, Any] | None) -> dict[str, Any]:
    """An endpoint this execution deployed (its row: the deployment; Describe: the endpoint now)
    or a transform job it ran."""
    out: dict[str, Any] = {"kind": row.kind, "name": row.resource, "step_status": row.status}
    if row.failure_reason:
        out["failure_reason"] = row.failure_reason
    if row.kind == "endpoint":
        out["endpoint_config"] = row.job_name
        if described is not None:
            out["status"] = described.get("EndpointStatus")
            out["serving_config"] = described.get("EndpointConfigName")
            out["last_modified"] = iso(described.get("LastModifiedTime"))
            if described.get("FailureReason"):
                out.setdefault("failure_reason", described.get("FailureReason"))
        else:
            out["status"] = "Deleted"
        return out
    if described is not None:
        out["status"] = described.get("TransformJobStatus")
        out["output_path"] = (described.get("TransformOutput") or {}).get("S3OutputPath")
        source = ((described.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
        out["input"] = source.get("S3Uri")
        out["started"] = iso(described.get("TransformStartTime"))
        out["ended"] = iso(described.get("TransformEndTime"))
        if described.get("FailureReason"):
            out.setdefault("failure_reason", described.get("FailureReason"))
    return out


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _lines(pairs: list[tuple[str, object]]) -> list[str]:
    shown = [(key, value) for key, value in pairs if value not in (None, "", {})]
    width = max((len(key) for key, _ in shown), default=0)
    return [f"  {key.ljust(width)}  {value}" for key, value in shown]


def render_summary(summary: Mapping[str, Any]) -> str:
    """The human screen of `dtrain status`."""
    out: list[str] = []
    execution = summary.get("execution")
    if execution:
        out.extend(_execution_lines(execution))
    spec = summary.get("spec") or {}
    if spec:
        out.append("Spec")
        out.extend(_lines([(key, value) for key, value in spec.items()]))
    jobs = summary.get("jobs") or []
    if not jobs and execution:
        out.append("Training job: not created yet")
    for job in jobs:
        out.extend(_job_lines(job))
    for hosted in summary.get("hosting") or []:
        out.extend(_hosting_lines(hosted))
    experiment = summary.get("experiment")
    if experiment and len(experiment["runs"]) > 1:
        out.append(f"Experiment {experiment['name']}: {len(experiment['runs'])} runs")
        out.extend("  " + line for line in runs_table(experiment["runs"]))
    return "\n".join(out)


def _execution_lines(execution: Mapping[str, Any]) -> list[str]:
    return [
        f"Execution {execution['name']}: {execution['status']}",
        *_lines(
            [
                ("started", execution.get("started")),
                ("stopped", execution.get("stopped")),
                ("error", execution.get("error")),
                ("cause", execution.get("cause")),
                ("console", execution.get("console_url")),
            ]
        ),
    ]


def _job_lines(job: Mapping[str, Any]) -> list[str]:
    """A training or processing job's heading, its fields, and its final metrics."""
    noun = "Processing job" if job.get("kind") == "processing" else "Training job"
    out = [f"{noun} {job['name']}: {job.get('status')}"]
    secondary = job.get("secondary_status")
    savings = job.get("spot_savings_percent")
    out.extend(
        _lines(
            [
                ("phase", secondary if secondary and secondary != job.get("status") else None),
                ("failure", job.get("failure_reason")),
                (
                    "instances",
                    f"{job['instance_count']} x {job['instance_type']}" if job.get("instance_type") else None,
                ),
                ("created", job.get("created")),
                ("started", job.get("started")),
                ("ended", job.get("ended")),
                ("training time", _duration(job["training_seconds"]) if "training_seconds" in job else None),
                ("billable time", _duration(job["billable_seconds"]) if "billable_seconds" in job else None),
                ("spot savings", f"{savings:.1f}%" if isinstance(savings, float) else None),
                ("interruptions", job.get("interruptions") or None),
                ("exit message", job.get("exit_message")),
                ("outputs", ", ".join(f"{k}={v}" for k, v in (job.get("outputs") or {}).items())),
                ("model", job.get("model_artifact")),
                ("tensorboard", job.get("tensorboard")),
                ("console", job.get("console_url")),
                ("logs", job.get("logs_url")),
            ]
        )
    )
    metrics = job.get("metrics") or {}
    if metrics:
        out.append("  metrics")
        out.extend("  " + line for line in _lines([(k, _number(v)) for k, v in sorted(metrics.items())]))
    return out


def _hosting_lines(hosted: Mapping[str, Any]) -> list[str]:
    """An endpoint's or a transform job's heading and fields."""
    noun = "Endpoint" if hosted["kind"] == "endpoint" else "Transform job"
    return [
        f"{noun} {hosted['name']}: {hosted.get('status') or hosted.get('step_status')}",
        *_lines(
            [
                ("deployed config", hosted.get("endpoint_config")),
                ("serving config", hosted.get("serving_config")),
                ("this deployment", hosted.get("step_status") if hosted["kind"] == "endpoint" else None),
                ("failure", hosted.get("failure_reason")),
                ("input", hosted.get("input")),
                ("output", hosted.get("output_path")),
                ("started", hosted.get("started")),
                ("ended", hosted.get("ended")),
                ("modified", hosted.get("last_modified")),
            ]
        ),
    ]


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
