"""One-line human summary of a spec and its request (`dtrain validate`, logs)."""

from __future__ import annotations

from typing import Any

from dtrain.jobspec.channels import FileSystemChannel, PlatformFileSystemChannel, PlatformS3Channel, S3Channel
from dtrain.jobspec.spec import JobSpec


def _channel_kind(channel: object) -> str:
    if isinstance(channel, S3Channel | PlatformS3Channel):
        return "s3"
    if isinstance(channel, PlatformFileSystemChannel):
        return channel.file_system
    if isinstance(channel, FileSystemChannel):
        return "fsx" if channel.file_system_type == "FSxLustre" else "efs"
    return "?"


def spec_summary(spec: JobSpec, request: dict[str, Any]) -> str:
    est = spec.estimator
    strategy = est.distribution.strategy if est.distribution else "single process"
    parts = [
        f"{spec.framework} {strategy}",
        f"{est.instance_count} x {est.instance_type}",
        "spot" if est.use_spot_instances else "on-demand",
    ]
    if est.keep_alive_period_in_seconds:
        parts.append(f"warm pool {est.keep_alive_period_in_seconds}s")
    if spec.inputs:
        parts.append("channels " + ", ".join(f"{n}({_channel_kind(c)})" for n, c in spec.inputs.items()))
    if spec.sweep is not None:
        parts.append(f"sweep of {len(spec.sweep.overrides)}")
    return f"{', '.join(parts)} -> job {request['TrainingJobName']}"
