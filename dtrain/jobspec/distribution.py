"""Distribution strategies: parsing the SDK's `distribution` dict, and the hyperparameters
SDK v2 adds for each (docs/jobspec.md's table).

Exactly one strategy, enabled, per spec: the SDK silently combines or drops strategies in
ways that differ between releases; a spec that names two is refused instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.instance_groups import check_group_names

Strategy = Literal[
    "torch_distributed",
    "pytorchddp",
    "smdistributed",
    "mpi",
    "parameter_server",
    "multi_worker_mirrored_strategy",
]
STRATEGIES: tuple[Strategy, ...] = (
    "torch_distributed",
    "pytorchddp",
    "smdistributed",
    "mpi",
    "parameter_server",
    "multi_worker_mirrored_strategy",
)
FRAMEWORK_STRATEGIES: Mapping[str, frozenset[str]] = {
    "pytorch": frozenset({"torch_distributed", "pytorchddp", "smdistributed", "mpi"}),
    "tensorflow": frozenset({"smdistributed", "mpi", "parameter_server", "multi_worker_mirrored_strategy"}),
}
_STRATEGY_KEYS: Mapping[str, frozenset[str]] = {
    "torch_distributed": frozenset({"enabled"}),
    "pytorchddp": frozenset({"enabled"}),
    "mpi": frozenset({"enabled", "processes_per_host", "custom_mpi_options"}),
    "parameter_server": frozenset({"enabled"}),
    "multi_worker_mirrored_strategy": frozenset({"enabled"}),
}
# SDK 2.x: the instance types smdistributed dataparallel runs on.
SMDDP_INSTANCE_TYPES = frozenset(
    {"ml.p3.16xlarge", "ml.p3dn.24xlarge", "ml.p4d.24xlarge", "ml.p4de.24xlarge"}
)
MWMS_MIN_TF_VERSION = (2, 9)
_MAX_MPI_OPTIONS = 1000


@dataclass(frozen=True)
class DistributionSpec:
    strategy: Strategy
    processes_per_host: int | None = None  # mpi only
    custom_mpi_options: str | None = None  # mpi and smdistributed dataparallel
    # The instance groups that train (SDK 2.220: distribution["instance_groups"]), by name.
    instance_groups: tuple[str, ...] = ()

    @property
    def uses_mpi(self) -> bool:
        """Launched by mpirun: TensorFlow's model_dir is then the local /opt/ml/model."""
        return self.strategy == "mpi"


def _enabled(field: str, data: object, errors: ErrorCollector) -> Mapping[str, object] | None:
    if not isinstance(data, Mapping):
        errors.add(field, data, 'must be an object such as {"enabled": true}')
        return None
    enabled = data.get("enabled")
    if enabled is not True:
        errors.add(
            f"{field}.enabled",
            enabled,
            "must be true: name exactly one strategy, enabled (remove strategies you do not use)",
        )
        return None
    return data


def parse_distribution(
    field: str, data: object, framework: str, errors: ErrorCollector
) -> DistributionSpec | None:
    if not isinstance(data, Mapping):
        errors.add(field, data, 'must be an object such as {"torch_distributed": {"enabled": true}}')
        return None
    before = len(errors.errors)
    groups: tuple[str, ...] = ()
    if data.get("instance_groups") is not None:
        groups = check_group_names(f"{field}.instance_groups", data["instance_groups"], errors) or ()
    for key in data:
        if key not in STRATEGIES and key != "instance_groups":
            errors.add(f"{field}.{key}", data[key], rules.unknown_key_rule(str(key), STRATEGIES))
    named = [k for k in STRATEGIES if k in data]
    if len(named) != 1:
        if len(named) > 1:
            errors.add(field, sorted(named), "exactly one distribution strategy may be enabled")
        elif len(errors.errors) == before:
            errors.add(field, dict(data), f"names no strategy; one of {', '.join(STRATEGIES)}")
        return None
    strategy = named[0]
    sub_field = f"{field}.{strategy}"
    allowed = FRAMEWORK_STRATEGIES.get(framework, frozenset())
    if framework in FRAMEWORK_STRATEGIES and strategy not in allowed:
        errors.add(
            sub_field,
            data[strategy],
            f"not available for framework {framework!r}; use one of {sorted(allowed)}",
        )
    if strategy == "smdistributed":
        parsed = _parse_smdistributed(sub_field, data[strategy], errors, before)
        return replace(parsed, instance_groups=groups) if parsed is not None else None
    body = _enabled(sub_field, data[strategy], errors)
    if body is None:
        return None
    for key in body:
        if key not in _STRATEGY_KEYS[strategy]:
            errors.add(
                f"{sub_field}.{key}", body[key], rules.unknown_key_rule(str(key), _STRATEGY_KEYS[strategy])
            )
    processes: int | None = None
    options: str | None = None
    if strategy == "mpi":
        if "processes_per_host" in body:
            value = body["processes_per_host"]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
                shown = value if not isinstance(value, int) or value.bit_length() <= 64 else "<huge integer>"
                errors.add(f"{sub_field}.processes_per_host", shown, "must be an integer >= 1 and < 2**31")
            else:
                processes = value
        options = _mpi_options(f"{sub_field}.custom_mpi_options", body.get("custom_mpi_options", ""), errors)
    if len(errors.errors) > before:
        return None
    return DistributionSpec(
        strategy=strategy, processes_per_host=processes, custom_mpi_options=options, instance_groups=groups
    )


def _mpi_options(field: str, value: object, errors: ErrorCollector) -> str | None:
    if not isinstance(value, str) or "\n" in value or len(value) > _MAX_MPI_OPTIONS:
        errors.add(field, value, f"must be a one-line string of at most {_MAX_MPI_OPTIONS} characters")
        return None
    return value


def _parse_smdistributed(
    field: str, data: object, errors: ErrorCollector, before: int
) -> DistributionSpec | None:
    if not isinstance(data, Mapping):
        errors.add(field, data, 'must be {"dataparallel": {"enabled": true}}')
        return None
    for key in data:
        if key != "dataparallel":
            rule = (
                "smdistributed model parallelism is not supported by dtrain; use dataparallel"
                if key == "modelparallel"
                else rules.unknown_key_rule(str(key), ["dataparallel"])
            )
            errors.add(f"{field}.{key}", data[key], rule)
    if "dataparallel" not in data:
        if len(errors.errors) == before:
            errors.add(field, dict(data), 'must be {"dataparallel": {"enabled": true}}')
        return None
    body = _enabled(f"{field}.dataparallel", data["dataparallel"], errors)
    if body is None:
        return None
    for key in body:
        if key not in ("enabled", "custom_mpi_options"):
            errors.add(
                f"{field}.dataparallel.{key}",
                body[key],
                rules.unknown_key_rule(str(key), ["enabled", "custom_mpi_options"]),
            )
    options = _mpi_options(
        f"{field}.dataparallel.custom_mpi_options", body.get("custom_mpi_options", ""), errors
    )
    if len(errors.errors) > before:
        return None
    return DistributionSpec(strategy="smdistributed", custom_mpi_options=options)


def distribution_hyperparameters(dist: DistributionSpec | None, instance_type: str | None) -> dict[str, Any]:
    """The keys SDK v2 (2.220) adds for the strategy, before JSON encoding.

    instance_type is None with instance groups: PyTorch's torch_distributed / pytorchddp then
    leave sagemaker_instance_type out, smdistributed sends it as null (json.dumps(None)), and
    mpi / smdistributed name the training groups in sagemaker_distribution_instance_groups.
    """
    if dist is None:
        return {}
    typed = {"sagemaker_instance_type": instance_type} if instance_type is not None else {}
    if dist.strategy == "torch_distributed":
        return {"sagemaker_torch_distributed_enabled": True, **typed}
    if dist.strategy == "pytorchddp":
        return {"sagemaker_pytorch_ddp_enabled": True, **typed}
    groups = (
        {"sagemaker_distribution_instance_groups": list(dist.instance_groups)} if dist.instance_groups else {}
    )
    if dist.strategy == "smdistributed":
        return {
            **groups,
            "sagemaker_distributed_dataparallel_enabled": True,
            "sagemaker_instance_type": instance_type,
            "sagemaker_distributed_dataparallel_custom_mpi_options": dist.custom_mpi_options or "",
        }
    if dist.strategy == "mpi":
        out: dict[str, Any] = {**groups, "sagemaker_mpi_enabled": True}
        if dist.processes_per_host:
            out["sagemaker_mpi_num_of_processes_per_host"] = dist.processes_per_host
        out["sagemaker_mpi_custom_mpi_options"] = dist.custom_mpi_options or ""
        return out
    if dist.strategy == "parameter_server":
        return {"sagemaker_parameter_server_enabled": True}
    return {"sagemaker_multi_worker_mirrored_strategy_enabled": True}
