"""A request's hyperparameters as local mode reads them: decoded, split into the user's and the
toolkit's, and the distribution they enable (for the job's summary; the launch itself is the
image toolkit's, which reads the same hyperparameters.json, dtrain/local/host_chains.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Hyperparameters the toolkit treats as its own, not as framework parameters.
TOOLKIT_HYPERPARAMETERS = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_region",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "default_user_module_name",
        "_tuning_objective_metric",
        "sagemaker_s3_output",
    }
)


def decode_hyperparameters(raw: Mapping[str, str]) -> dict[str, Any]:
    """hyperparameters.json values are JSON text; a value that is not stays a string."""
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (ValueError, TypeError):
            decoded[key] = value
    return decoded


def split_hyperparameters(hps: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, toolkit's sagemaker_* parameters, framework parameters)."""
    sagemaker = {k: v for k, v in hps.items() if k in TOOLKIT_HYPERPARAMETERS or k.startswith("sagemaker_")}
    user = {k: v for k, v in hps.items() if k not in sagemaker}
    framework = {k: v for k, v in sagemaker.items() if k not in TOOLKIT_HYPERPARAMETERS}
    return user, sagemaker, framework


def distribution_of(framework: Mapping[str, Any]) -> str:
    """The distribution a request's framework hyperparameters enable ("none" for none)."""
    if framework.get("sagemaker_torch_distributed_enabled"):
        return "torch_distributed"
    if framework.get("sagemaker_pytorch_ddp_enabled"):
        return "pytorchddp"
    if framework.get("sagemaker_distributed_dataparallel_enabled"):
        return "smdistributed"
    if framework.get("sagemaker_mpi_enabled"):
        return "mpi"
    if framework.get("sagemaker_parameter_server_enabled"):
        return "parameter_server"
    if framework.get("sagemaker_multi_worker_mirrored_strategy_enabled"):
        return "multi_worker_mirrored_strategy"
    return "none"
