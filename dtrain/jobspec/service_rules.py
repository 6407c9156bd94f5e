"""SageMaker's service-side rules that botocore's model does not carry, as one table.

botocore's model (dtrain.jobspec.validate_request) knows shapes, enums, lengths and ranges; SageMaker
also refuses well-formed CreateTrainingJob requests for reasons written only in its
documentation (a volume KMS key on an instance with local storage, a warm pool on spot
capacity, ...). Each rule below holds the document it comes from and turns a built request
into one-line `SpecError`s naming the spec field a user changes. The request builder applies
the table to every request it returns (validate_create_training_job), so `dtrain validate`,
`render`, `local`, `submit` and the Submit Lambda refuse the same things.

Two rules are notes, not refusals: what EFA and inter-container encryption need lives in the
security group's rules, which a request names but does not hold. The platform's own group is
built to allow both (stacks/network_stack.py); for a spec's own groups `validate` says what
they must allow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dtrain.jobspec.errors import SpecError, SpecErrors

# --- instance families ------------------------------------------------------------------------
# Training instance families (botocore's TrainingInstanceType enum) whose instances carry local
# NVMe instance-store SSDs. Sources: SageMaker API reference, ResourceConfig.VolumeSizeInGB
# ("ML instance families with the NVMe-type instance storage include ml.p4d, ml.g4dn, and
# ml.g5", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html),
# and the EC2 instance-type specifications, "Instance store specifications"
# (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html for g/p/trn,
# https://docs.aws.amazon.com/ec2/latest/instancetypes/mo.html for r5d). Families whose EC2
# specification could not be checked here (g7, g7e) are left out: for them the platform's
# volume key stays in and SageMaker has the last word.
LOCAL_STORAGE_FAMILIES: Final = frozenset(
    {
        "g4dn",
        "g5",
        "g6",
        "g6e",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "p6-b200",
        "p6-b300",
        "p6e-gb200",
        "r5d",
        "trn1",
        "trn1n",
        "trn2",
    }
)

# Training instance types with an Elastic Fabric Adapter. Source: SageMaker developer guide,
# "Run training on EFA-enabled instances" / EC2 "Supported instance types" for EFA
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa.html#efa-instance-types).
EFA_INSTANCE_TYPES: Final = frozenset(
    {
        "ml.c5n.18xlarge",
        "ml.g4dn.8xlarge",
        "ml.g4dn.12xlarge",
        "ml.g4dn.16xlarge",
        "ml.g5.8xlarge",
        "ml.g5.12xlarge",
        "ml.g5.16xlarge",
        "ml.g5.24xlarge",
        "ml.g5.48xlarge",
        "ml.g6.8xlarge",
        "ml.g6.12xlarge",
        "ml.g6.16xlarge",
        "ml.g6.24xlarge",
        "ml.g6.48xlarge",
        "ml.g6e.8xlarge",
        "ml.g6e.12xlarge",
        "ml.g6e.16xlarge",
        "ml.g6e.24xlarge",
        "ml.g6e.48xlarge",
        "ml.p3dn.24xlarge",
        "ml.p4d.24xlarge",
        "ml.p4de.24xlarge",
        "ml.p5.48xlarge",
        "ml.p5e.48xlarge",
        "ml.p5en.48xlarge",
        "ml.p6-b200.48xlarge",
        "ml.trn1.32xlarge",
        "ml.trn1n.32xlarge",
        "ml.trn2.48xlarge",
    }
)

# StoppingCondition.MaxRuntimeInSeconds: "The maximum value is 28 days."
MAX_RUNTIME_SECONDS: Final = 28 * 24 * 3600  # 2,419,200

_FILE_SYSTEM_MODES: Final = ("File",)


def instance_family(instance_type: str) -> str:
    """`ml.p4d.24xlarge` -> `p4d`."""
    parts = instance_type.split(".")
    return parts[1] if len(parts) >= 3 else ""


def has_local_storage(instance_type: str) -> bool:
    return instance_family(instance_type) in LOCAL_STORAGE_FAMILIES


# --- the table --------------------------------------------------------------------------------
Check = Callable[[Mapping[str, Any]], Iterator[SpecError]]


@dataclass(frozen=True)
class ServiceRule:
    """One documented rule. `applies` says whether a request touches the rule's subject at all
    (the parity figures count rules exercised); `check` yields the refusals."""

    name: str
    source: str
    summary: str
    applies: Callable[[Mapping[str, Any]], bool]
    check: Check


def _resource(request: Mapping[str, Any]) -> Mapping[str, Any]:
    resource: Mapping[str, Any] = request.get("ResourceConfig", {})
    return resource


def _stopping(request: Mapping[str, Any]) -> Mapping[str, Any]:
    stopping: Mapping[str, Any] = request.get("StoppingCondition", {})
    return stopping


def _spot(request: Mapping[str, Any]) -> bool:
    return bool(request.get("EnableManagedSpotTraining"))


def _channels(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    channels: list[Mapping[str, Any]] = request.get("InputDataConfig", [])
    return channels


def _file_system_channels(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in _channels(request) if "FileSystemDataSource" in c.get("DataSource", {})]


def _instance_types(request: Mapping[str, Any]) -> list[str]:
    """ResourceConfig's instance types: InstanceType, or each of the InstanceGroups'."""
    resource = _resource(request)
    groups = resource.get("InstanceGroups") or [resource]
    return [str(g.get("InstanceType", "")) for g in groups]


def _volume_key_on_local_storage(request: Mapping[str, Any]) -> Iterator[SpecError]:
    resource = _resource(request)
    key = resource.get("VolumeKmsKeyId")
    local = [t for t in _instance_types(request) if has_local_storage(t)]
    instance_type = local[0] if local else ""
    if key and local:
        yield SpecError(
            "estimator.volume_kms_key",
            key,
            f"{instance_type} has local NVMe instance storage, encrypted by the instance; "
            "SageMaker refuses a VolumeKmsKeyId for it",
        )


def _warm_pool_with_spot(request: Mapping[str, Any]) -> Iterator[SpecError]:
    keep_alive = _resource(request).get("KeepAlivePeriodInSeconds") or 0
    if keep_alive > 0 and _spot(request):
        yield SpecError(
            "estimator.keep_alive_period_in_seconds",
            keep_alive,
            "SageMaker managed warm pools cannot be used with spot instances; "
            "remove it or set use_spot_instances to false",
        )


def _warm_pool_with_instance_groups(request: Mapping[str, Any]) -> Iterator[SpecError]:
    keep_alive = _resource(request).get("KeepAlivePeriodInSeconds") or 0
    if keep_alive > 0 and _resource(request).get("InstanceGroups"):
        yield SpecError(
            "estimator.keep_alive_period_in_seconds",
            keep_alive,
            "SageMaker managed warm pools cannot be used with heterogeneous cluster training "
            "(instance_groups); remove it or train on one instance_type",
        )


def _file_system_modes(request: Mapping[str, Any]) -> Iterator[SpecError]:
    job_mode = request.get("AlgorithmSpecification", {}).get("TrainingInputMode", "File")
    for channel in _file_system_channels(request):
        name = channel.get("ChannelName", "?")
        mode = channel.get("InputMode", job_mode)
        if mode not in _FILE_SYSTEM_MODES:
            field = f"inputs.{name}.input_mode" if "InputMode" in channel else "estimator.input_mode"
            yield SpecError(
                field,
                mode,
                f"channel '{name}' is a file system (FSx/EFS), which SageMaker mounts in File mode; "
                "Pipe and FastFile stream from S3 only",
            )


def _file_system_vpc(request: Mapping[str, Any]) -> Iterator[SpecError]:
    if _file_system_channels(request) and not request.get("VpcConfig"):
        names = sorted(str(c.get("ChannelName")) for c in _file_system_channels(request))
        yield SpecError(
            "estimator.subnets",
            None,
            f"file-system channels {names} are reached through the VPC: the job needs subnets "
            "and security_group_ids",
        )


def _max_runtime(request: Mapping[str, Any]) -> Iterator[SpecError]:
    runtime = _stopping(request).get("MaxRuntimeInSeconds")
    if isinstance(runtime, int) and runtime > MAX_RUNTIME_SECONDS:
        yield SpecError(
            "estimator.max_run",
            runtime,
            f"more than SageMaker's maximum run time of 28 days ({MAX_RUNTIME_SECONDS} s)",
        )


def _max_wait_only_with_spot(request: Mapping[str, Any]) -> Iterator[SpecError]:
    wait = _stopping(request).get("MaxWaitTimeInSeconds")
    if wait is not None and not _spot(request):
        yield SpecError(
            "estimator.max_wait",
            wait,
            "SageMaker accepts MaxWaitTimeInSeconds only with managed spot training "
            "(use_spot_instances: true)",
        )


def _spot_wait(request: Mapping[str, Any]) -> Iterator[SpecError]:
    if not _spot(request):
        return
    stopping = _stopping(request)
    wait, runtime = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds")
    if wait is None:
        yield SpecError(
            "estimator.max_wait",
            None,
            "required with use_spot_instances: how long to wait for spot capacity, >= max_run",
        )
    elif isinstance(runtime, int) and wait < runtime:
        yield SpecError(
            "estimator.max_wait",
            wait,
            f"less than max_run {runtime}; spot jobs need max_wait >= max_run",
        )


def _isolated_code_fetch(request: Mapping[str, Any]) -> Iterator[SpecError]:
    if not request.get("EnableNetworkIsolation"):
        return
    submit_dir = request.get("HyperParameters", {}).get("sagemaker_submit_directory", "")
    if '"s3://' in submit_dir:
        yield SpecError(
            "estimator.source_dir",
            submit_dir.strip('"'),
            "with enable_network_isolation the container cannot download its code from S3; "
            "it must arrive as an input channel or be baked into the image",
        )


SERVICE_RULES: Final[tuple[ServiceRule, ...]] = (
    ServiceRule(
        name="volume-kms-key-local-storage",
        # API reference, ResourceConfig.VolumeKmsKeyId: "You can't request a VolumeKmsKeyId
        # when using an instance type with local storage."
        source="https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html",
        summary="no VolumeKmsKeyId on instance types with local NVMe storage",
        applies=lambda r: any(has_local_storage(t) for t in _instance_types(r)),
        check=_volume_key_on_local_storage,
    ),
    ServiceRule(
        name="warm-pool-not-with-spot",
        # Developer guide, SageMaker managed warm pools, Considerations: "SageMaker Managed
        # Warm Pools cannot be used with spot instances."
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/train-warm-pools.html#train-warm-pools-considerations",
        summary="KeepAlivePeriodInSeconds > 0 is refused with managed spot training",
        applies=lambda r: "KeepAlivePeriodInSeconds" in _resource(r),
        check=_warm_pool_with_spot,
    ),
    ServiceRule(
        name="warm-pool-not-with-instance-groups",
        # Developer guide, SageMaker managed warm pools, Considerations: "SageMaker Managed
        # Warm Pools cannot be used with heterogeneous cluster training."
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/train-warm-pools.html#train-warm-pools-considerations",
        summary="KeepAlivePeriodInSeconds > 0 is refused with ResourceConfig.InstanceGroups",
        applies=lambda r: "KeepAlivePeriodInSeconds" in _resource(r),
        check=_warm_pool_with_instance_groups,
    ),
    ServiceRule(
        name="file-system-channel-file-mode",
        # Developer guide, "Setting up training jobs to access datasets": FSx for Lustre and
        # EFS are mounted (File mode); fast file and pipe mode stream from an S3 data source.
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/model-access-training-data.html",
        summary="FSx/EFS channels use File input mode, never Pipe or FastFile",
        applies=lambda r: bool(_file_system_channels(r)),
        check=_file_system_modes,
    ),
    ServiceRule(
        name="file-system-channel-needs-vpc",
        # Same page: file systems are reached through the VPC the job runs in (VpcConfig).
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/model-access-training-data.html",
        summary="FSx/EFS channels need VpcConfig",
        applies=lambda r: bool(_file_system_channels(r)),
        check=_file_system_vpc,
    ),
    ServiceRule(
        name="max-runtime-28-days",
        # API reference, StoppingCondition.MaxRuntimeInSeconds: "The maximum value is 28 days."
        source="https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html",
        summary=f"MaxRuntimeInSeconds <= {MAX_RUNTIME_SECONDS} (28 days)",
        applies=lambda r: "MaxRuntimeInSeconds" in _stopping(r),
        check=_max_runtime,
    ),
    ServiceRule(
        name="spot-max-wait",
        # API reference, StoppingCondition.MaxWaitTimeInSeconds: "It must be equal to or
        # greater than MaxRuntimeInSeconds"; developer guide, managed spot training: spot jobs
        # set MaxWaitTimeInSeconds.
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html",
        summary="spot jobs need MaxWaitTimeInSeconds >= MaxRuntimeInSeconds",
        applies=_spot,
        check=_spot_wait,
    ),
    ServiceRule(
        name="max-wait-only-with-spot",
        # The service's ValidationException: "Invalid MaxWaitTimeInSeconds. It is only
        # supported when EnableManagedSpotTraining is set to true"
        # (quoted in https://github.com/aws/amazon-sagemaker-examples/issues/869).
        source="https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html",
        summary="MaxWaitTimeInSeconds only with EnableManagedSpotTraining",
        applies=lambda r: "MaxWaitTimeInSeconds" in _stopping(r),
        check=_max_wait_only_with_spot,
    ),
    ServiceRule(
        name="network-isolation-no-code-download",
        # Developer guide, "Run training and inference containers in internet-free mode": an
        # isolated container makes no outbound calls, not even to Amazon S3.
        source="https://docs.aws.amazon.com/sagemaker/latest/dg/mkt-algo-model-internet-free.html",
        summary="with EnableNetworkIsolation the code is not fetched from S3 by the container",
        applies=lambda r: bool(r.get("EnableNetworkIsolation")),
        check=_isolated_code_fetch,
    ),
)


# --- notes: rules a request names but does not hold -------------------------------------------
@dataclass(frozen=True)
class ServiceNote:
    name: str
    source: str
    summary: str


EFA_NOTE = ServiceNote(
    name="efa-security-group",
    # EC2 user guide, "Prepare an EFA-enabled security group": all inbound and outbound
    # traffic to and from the security group itself.
    source="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html#efa-start-security",
    summary="multi-node jobs on EFA types in a VPC need a group allowing all traffic to itself",
)
INTER_CONTAINER_NOTE = ServiceNote(
    name="inter-container-encryption-ports",
    # Developer guide, "Protect communications between ML compute instances in a distributed
    # training job": UDP 500 and IP protocol 50 within the group.
    source="https://docs.aws.amazon.com/sagemaker/latest/dg/train-encrypt.html",
    summary="inter-container traffic encryption in a VPC needs UDP 500 and protocol 50 within the group",
)
VOLUME_KEY_NOTE = ServiceNote(
    name="platform-volume-key-left-out",
    source=SERVICE_RULES[0].source,
    summary="the platform's volume key is left out on instance types with local storage",
)
WARM_POOL_QUOTA_NOTE = ServiceNote(
    name="warm-pool-quota-0",
    # Developer guide, "Request a warm pool quota increase": "The default resource limit for
    # warm pools is 0. If a training job is created with KeepAlivePeriodInSeconds specified, but
    # you did not request a warm pool limit increase, then a warm pool is not retained."
    source="https://docs.aws.amazon.com/sagemaker/latest/dg/train-warm-pools-resource-limits.html",
    summary="a warm pool needs a warm-pool quota for the instance type; its default is 0",
)
SERVICE_NOTES: Final = (EFA_NOTE, INTER_CONTAINER_NOTE, VOLUME_KEY_NOTE, WARM_POOL_QUOTA_NOTE)


def service_rule_problems(request: Mapping[str, Any]) -> list[SpecError]:
    return [error for rule in SERVICE_RULES for error in rule.check(request)]


def check_service_rules(request: Mapping[str, Any]) -> None:
    """Raise every refusal at once (SpecError for one, SpecErrors for several)."""
    problems = service_rule_problems(request)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecErrors(problems)


def request_notes(
    request: Mapping[str, Any],
    *,
    platform_volume_key: str | None = None,
    platform_security_groups: tuple[str, ...] = (),
) -> list[str]:
    """One line each: what the platform changed, and what a spec's own groups must allow."""
    notes: list[str] = []
    resource = _resource(request)
    instance_type = str(resource.get("InstanceType", ""))
    if platform_volume_key and "VolumeKmsKeyId" not in resource and has_local_storage(instance_type):
        notes.append(
            f"ResourceConfig.VolumeKmsKeyId: the platform's volume key is left out: {instance_type} has "
            f"local NVMe instance storage, which the instance encrypts ({VOLUME_KEY_NOTE.source})"
        )
    if (resource.get("KeepAlivePeriodInSeconds") or 0) > 0 and instance_type:
        # No error from SageMaker: the job trains and no pool is kept, which nobody notices.
        notes.append(
            f"estimator.keep_alive_period_in_seconds: a warm pool is kept only within the account's "
            f"warm-pool quota for {instance_type}, 0 unless raised in Service "
            f"Quotas ('{instance_type} for training warm pool usage'); without it the job trains and "
            f"no pool is kept ({WARM_POOL_QUOTA_NOTE.source})"
        )
    groups = tuple(request.get("VpcConfig", {}).get("SecurityGroupIds", ()))
    own_groups = [g for g in groups if g not in platform_security_groups]
    if not own_groups:
        return notes
    multi_node = int(resource.get("InstanceCount", 1)) > 1
    if multi_node and instance_type in EFA_INSTANCE_TYPES:
        notes.append(
            f"estimator.security_group_ids: {instance_type} uses EFA: {', '.join(own_groups)} must allow "
            f"all inbound and outbound traffic to and from itself ({EFA_NOTE.source})"
        )
    if request.get("EnableInterContainerTrafficEncryption"):
        notes.append(
            f"estimator.security_group_ids: inter-container traffic encryption: {', '.join(own_groups)} "
            f"must allow UDP 500 and IP protocol 50 within the group ({INTER_CONTAINER_NOTE.source})"
        )
    return notes
