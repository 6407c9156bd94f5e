"""Distribution strategies: parsing the SDK's `distribution` dict, and the hyperparameters
SDK v2 adds for each (docs/jobspec.md's table).

Exactly one strategy, enabled, per spec: the SDK silently combines or drops strategies in
ways that differ between releases; a spec that names two is refused instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.instance_groups import GROUP_NAMES, check_group_names
from dtrain.jobspec.values import Const, Custom, Int, Kind, Nested, Table, Text, or_null

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
# SDK 2.x: the instance types smdistributed dataparallel runs on.
SMDDP_INSTANCE_TYPES = frozenset(
    {"ml.p3.16xlarge", "ml.p3dn.24xlarge", "ml.p4d.24xlarge", "ml.p4de.24xlarge"}
)
MWMS_MIN_TF_VERSION = (2, 9)
_MAX_MPI_OPTIONS = 1000

# Each strategy's object, as SDK 2.220's distribution dict takes it: enabled, and its options.
_ENABLED_RULE = "must be true: name exactly one strategy, enabled (remove strategies you do not use)"
_ENABLED = Const(True, _ENABLED_RULE)
_MPI_OPTIONS = Text(
    _MAX_MPI_OPTIONS,
    rule=f"must be a one-line string of at most {_MAX_MPI_OPTIONS} characters",
    allow_empty=True,
    one_rule=True,
)


def _strategy_table(name: str, **options: Kind) -> Table:
    return Table(
        f"estimator.distribution.{name}",
        {"enabled": _ENABLED, **options},
        required=("enabled",),
        missing={"enabled": _ENABLED_RULE},
    )


_DATAPARALLEL_TABLE = _strategy_table("smdistributed.dataparallel", custom_mpi_options=_MPI_OPTIONS)
SMDISTRIBUTED_TABLE = Table(
    "estimator.distribution.smdistributed",
    {
        "dataparallel": Nested(_DATAPARALLEL_TABLE),
        "modelparallel": "smdistributed model parallelism is not supported by dtrain; use dataparallel",
    },
    required=("dataparallel",),
)
STRATEGY_TABLES: Mapping[str, Table] = {
    "torch_distributed": _strategy_table("torch_distributed"),
    "pytorchddp": _strategy_table("pytorchddp"),
    "smdistributed": SMDISTRIBUTED_TABLE,
    "mpi": _strategy_table(
        "mpi",
        processes_per_host=Int(1, rule="must be an integer >= 1 and < 2**31"),
        custom_mpi_options=_MPI_OPTIONS,
    ),
    "parameter_server": _strategy_table("parameter_server"),
    "multi_worker_mirrored_strategy": _strategy_table("multi_worker_mirrored_strategy"),
}
_GROUPS = Custom(
    check_group_names,
    GROUP_NAMES.schema,
    "names of the estimator's instance groups that train",
)
DISTRIBUTION_TABLE = Table(
    "estimator.distribution",
    {**{name: Nested(table) for name, table in STRATEGY_TABLES.items()}, "instance_groups": _GROUPS},
)
assert tuple(STRATEGY_TABLES) == STRATEGIES
# parse_distribution's "exactly one strategy", the one rule across its keys a schema can say.
ONE_STRATEGY_SCHEMA: Final[dict[str, Any]] = {"oneOf": [{"required": [name]} for name in STRATEGIES]}


def distribution_schema() -> dict[str, Any]:
    """The `distribution` object's schema: the tables above (instance_groups may be null)."""
    out = DISTRIBUTION_TABLE.schema()
    out["properties"]["instance_groups"] = or_null(_GROUPS.schema())
    return {**out, **ONE_STRATEGY_SCHEMA}


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
        if key not in DISTRIBUTION_TABLE.args:
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
    got = STRATEGY_TABLES[strategy].read(sub_field, body, errors)
    if len(errors.errors) > before or got is None:
        return None
    return DistributionSpec(
        strategy=strategy,
        processes_per_host=got.get("processes_per_host"),
        custom_mpi_options=got.get("custom_mpi_options", "") if strategy == "mpi" else None,
        instance_groups=groups,
    )


def _parse_smdistributed(
    field: str, data: object, errors: ErrorCollector, before: int
) -> DistributionSpec | None:
    if not isinstance(data, Mapping):
        errors.add(field, data, 'must be {"dataparallel": {"enabled": true}}')
        return None
    for key in data:
        entry = SMDISTRIBUTED_TABLE.args.get(str(key))
        if key != "dataparallel":
            rule = entry if isinstance(entry, str) else rules.unknown_key_rule(str(key), ["dataparallel"])
            errors.add(f"{field}.{key}", data[key], rule)
    if "dataparallel" not in data:
        if len(errors.errors) == before:
            errors.add(field, dict(data), 'must be {"dataparallel": {"enabled": true}}')
        return None
    body = _enabled(f"{field}.dataparallel", data["dataparallel"], errors)
    if body is None:
        return None
    got = _DATAPARALLEL_TABLE.read(f"{field}.dataparallel", body, errors)
    if len(errors.errors) > before or got is None:
        return None
    return DistributionSpec(strategy="smdistributed", custom_mpi_options=got.get("custom_mpi_options", ""))


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
