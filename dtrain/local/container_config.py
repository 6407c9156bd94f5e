"""input/config/*.json as SageMaker writes them into each instance, from the request.

SageMaker writes the request's HyperParameters verbatim (string values, JSON-encoded by the
SDK), a resource config naming the current host among all hosts, and per channel the input
mode, distribution type and record wrapper. The toolkit (`sagemaker_training.environment`)
reads exactly these files: local mode runs the toolkit itself on them (dtrain/local/host_chains.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dtrain.local.errors import LocalModeError
from dtrain.local.layout import INSTANCE_GROUP, HostTree, write_json

NETWORK_INTERFACE = "eth0"


def instance_count(request: Mapping[str, Any]) -> int:
    """Hosts the request asks for: InstanceCount, or the instance groups' counts together."""
    resource = request["ResourceConfig"]
    if "InstanceGroups" in resource:
        return sum(int(g["InstanceCount"]) for g in resource["InstanceGroups"])
    return int(resource["InstanceCount"])


def host_groups(request: Mapping[str, Any], hosts: Sequence[str]) -> list[dict[str, Any]]:
    """resourceconfig.json's instance_groups: each simulated host in its group.

    Without InstanceGroups SageMaker names the one group homogeneousCluster. With them, the
    hosts are dealt out in the request's group order (algo-1.. to the first group, ...); a
    --hosts count other than the groups' total cannot say which group a host is in.
    """
    resource = request["ResourceConfig"]
    if "InstanceGroups" not in resource:
        return [
            {
                "instance_group_name": INSTANCE_GROUP,
                "instance_type": str(resource["InstanceType"]),
                "hosts": list(hosts),
            }
        ]
    if instance_count(request) != len(hosts):
        raise LocalModeError(
            f"--hosts {len(hosts)}: with instance groups local mode simulates every group's hosts "
            f"({instance_count(request)}); leave --hosts out"
        )
    groups, start = [], 0
    for group in resource["InstanceGroups"]:
        count = int(group["InstanceCount"])
        groups.append(
            {
                "instance_group_name": str(group["InstanceGroupName"]),
                "instance_type": str(group["InstanceType"]),
                "hosts": list(hosts[start : start + count]),
            }
        )
        start += count
    return groups


def resource_config(request: Mapping[str, Any], host: str, hosts: Sequence[str]) -> dict[str, Any]:
    groups = host_groups(request, hosts)
    current = next(g for g in groups if host in g["hosts"])
    return {
        "current_host": host,
        "current_instance_type": current["instance_type"],
        "current_group_name": current["instance_group_name"],
        "hosts": list(hosts),
        "instance_groups": groups,
        "network_interface_name": NETWORK_INTERFACE,
    }


def input_data_config(request: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    default_mode = str(request.get("AlgorithmSpecification", {}).get("TrainingInputMode", "File"))
    config: dict[str, dict[str, str]] = {}
    for channel in request.get("InputDataConfig", []):
        entry: dict[str, str] = {"TrainingInputMode": str(channel.get("InputMode", default_mode))}
        s3 = channel.get("DataSource", {}).get("S3DataSource")
        if s3 is not None:
            entry["S3DistributionType"] = str(s3.get("S3DataDistributionType", "FullyReplicated"))
        entry["RecordWrapperType"] = str(channel.get("RecordWrapperType", "None"))
        if "ContentType" in channel:
            entry["ContentType"] = str(channel["ContentType"])
        config[str(channel["ChannelName"])] = entry
    return config


def checkpoint_config(request: Mapping[str, Any]) -> dict[str, str] | None:
    cfg = request.get("CheckpointConfig")
    if not cfg:
        return None
    return {"S3Uri": str(cfg["S3Uri"]), "LocalPath": str(cfg.get("LocalPath", "/opt/ml/checkpoints"))}


def write_container_config(request: Mapping[str, Any], tree: HostTree, hosts: Sequence[str]) -> None:
    write_json(tree.config_dir / "hyperparameters.json", dict(request.get("HyperParameters", {})))
    write_json(tree.config_dir / "resourceconfig.json", resource_config(request, tree.name, hosts))
    write_json(tree.config_dir / "inputdataconfig.json", input_data_config(request))
    checkpoints = checkpoint_config(request)
    if checkpoints is not None:
        write_json(tree.config_dir / "checkpointconfig.json", checkpoints)
    definitions = request.get("AlgorithmSpecification", {}).get("MetricDefinitions")
    if definitions:
        write_json(tree.config_dir / "metric-definition-regex.json", list(definitions))
    write_json(tree.config_dir / "trainingjobconfig.json", dict(request))
