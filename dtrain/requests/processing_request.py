"""Job spec's `processing` block + platform settings -> the CreateProcessingJob request.

What SDK 2.220's `ScriptProcessor(**processor).run(**run)` sends (sagemaker.processing:
ProcessingJob._get_process_args, Session._get_process_request), checked against botocore's
model with the same strict checker as training. Where the SDK would use its session's
default bucket and default bucket prefix (local code, outputs without a destination), the
platform's output location stands for them (s3://<bucket>/<prefix>: the execution role may
write only there); without platform settings those values must be given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.digests import request_spec_digest
from dtrain.jobspec.errors import ErrorCollector, SpecError
from dtrain.jobspec.naming import job_name_for, prefixed_name
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.processing_spec import ProcessingSpec
from dtrain.jobspec.service_rules import has_local_storage
from dtrain.jobspec.spec import JobSpec
from dtrain.jobspec.validate_request import enum_values, validate_create_processing_job
from dtrain.requests.request_paths import s3_path_join
from dtrain.requests.request_tags import merged_tags

# ScriptProcessor._CODE_CONTAINER_BASE_PATH / _CODE_CONTAINER_INPUT_NAME.
CODE_INPUT_NAME = "code"
CODE_CONTAINER_DIR = "/opt/ml/processing/input/code"
_S3_RE = re.compile(r"s3://([^/]+)/?(.*)")


def _processing(spec: JobSpec) -> ProcessingSpec:
    if spec.processing is None:
        raise SpecError("processing", None, "the spec has no processing block")
    return spec.processing


def default_bucket(platform: PlatformSettings | None) -> str | None:
    """The bucket SDK v2's session.default_bucket() stands for: the platform's output bucket."""
    if platform is None:
        return None
    m = _S3_RE.fullmatch(platform.output_s3_uri)
    return m.group(1) if m else None


def default_location(platform: PlatformSettings | None) -> str | None:
    """s3://<default_bucket>[/<default_bucket_prefix>], the root SDK 2.220 puts a job's code
    and default outputs under (sagemaker.processing: s3_path_join of both and the job name);
    the platform's output URI: its prefix is where the execution role may write."""
    bucket = default_bucket(platform)
    if bucket is None or platform is None:
        return None
    m = _S3_RE.fullmatch(platform.output_s3_uri)
    prefix = m.group(2).strip("/") if m else ""
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def base_name(spec: JobSpec) -> str:
    """The readable part of a derived job name: base_job_name, else the image's name."""
    proc = _processing(spec)
    return proc.base_job_name or proc.packaged_image or _image_repo(proc.image_uri) or "processing"


def resolve_processing_job_name(
    spec: JobSpec, platform: PlatformSettings | None, job_name: str | None = None
) -> str:
    """run.job_name (under the platform's prefix, as training's), else derived from the spec."""
    proc = _processing(spec)
    prefix = platform.job_name_prefix if platform is not None else ""
    if job_name is not None:  # an explicit name (Prepare's validation name) as is
        return prefixed_name("processing.run.job_name", job_name, "")
    if proc.job_name is not None:
        return prefixed_name("processing.run.job_name", proc.job_name, prefix)
    return job_name_for(
        base_name(spec), execution_name=f"processing-{request_spec_digest(spec.raw)}", prefix=prefix
    )


def _image_repo(image_uri: str) -> str:
    return image_uri.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]


def output_uri(proc: ProcessingSpec, name: str, location: str | None, job_name: str) -> str | None:
    """Where output `name` lands: its destination, else the SDK's
    s3://<bucket>[/<prefix>]/<job>/output/<name> (`location`: default_location)."""
    for out in proc.outputs:
        if out.output_name == name:
            if out.destination is not None:
                return out.destination
            return f"{location}/{job_name}/output/{name}" if location else None
    return None


def processing_output_uris(
    spec: JobSpec, platform: PlatformSettings | None, job_name: str | None = None
) -> dict[str, str]:
    """Output name -> S3 URI, for the training channels that name a processing output."""
    proc = _processing(spec)
    name = resolve_processing_job_name(spec, platform, job_name)
    location = default_location(platform)
    out: dict[str, str] = {}
    for o in proc.outputs:
        uri = output_uri(proc, o.output_name, location, name)
        if uri is None:
            raise SpecError(
                f"processing.run.outputs[{proc.outputs.index(o)}].destination",
                None,
                "required without platform settings: an s3:// URI",
            )
        out[o.output_name] = uri
    return out


def code_uri(proc: ProcessingSpec, location: str | None, job_name: str) -> str | None:
    """The script's S3 URI: as given, or where the SDK uploads a local file
    (s3://<bucket>[/<prefix>]/<job>/input/code/<file name>, ScriptProcessor._upload_code)."""
    if not proc.local_code:
        return proc.code
    if location is None:
        return None
    return f"{location}/{job_name}/input/{CODE_INPUT_NAME}/{PurePosixPath(proc.code).name}"


def local_code_path(spec: JobSpec) -> Path | None:
    """The local script to upload (or copy, in local mode), relative to the spec file's folder."""
    proc = _processing(spec)
    if not proc.local_code:
        return None
    path = Path(proc.code)
    return path if path.is_absolute() or spec.spec_dir is None else Path(spec.spec_dir) / path


def _s3_input(name: str, source: str, destination: str, item: Any = None) -> dict[str, Any]:
    s3: dict[str, Any] = {
        "S3Uri": source,
        "LocalPath": destination,
        "S3DataType": getattr(item, "s3_data_type", "S3Prefix"),
        "S3InputMode": getattr(item, "s3_input_mode", "File"),
        "S3DataDistributionType": getattr(item, "s3_data_distribution_type", "FullyReplicated"),
        "S3CompressionType": getattr(item, "s3_compression_type", "None"),
    }
    return {"InputName": name, "AppManaged": getattr(item, "app_managed", False), "S3Input": s3}


def build_processing_job_request(
    spec: JobSpec,
    platform: PlatformSettings | None,
    *,
    job_name: str | None = None,
) -> dict[str, Any]:
    """The CreateProcessingJob kwargs (boto3 shape), or SpecError/SpecErrors naming what is missing."""
    proc = _processing(spec)
    name = resolve_processing_job_name(spec, platform, job_name)
    settled = _settle(proc, platform, name)
    inputs = [
        _s3_input(i.input_name, uri, i.destination, i)
        for i, uri in zip(proc.inputs, settled.sources, strict=True)
    ]
    inputs.append(_s3_input(CODE_INPUT_NAME, settled.code, CODE_CONTAINER_DIR))
    app: dict[str, Any] = {"ImageUri": settled.image}
    if proc.arguments is not None:
        app["ContainerArguments"] = list(proc.arguments)
    app["ContainerEntrypoint"] = [*proc.command, f"{CODE_CONTAINER_DIR}/{PurePosixPath(settled.code).name}"]
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "ProcessingResources": {"ClusterConfig": _cluster(proc, platform)},
        "AppSpecification": app,
        "RoleArn": settled.role,
        "ProcessingInputs": inputs,
    }
    _add_optional_fields(request, proc, platform, settled.outputs)
    validate_create_processing_job(request)
    return request


@dataclass(frozen=True)
class _Settled:
    """What the request needs from the spec and the platform, every problem found in one pass."""

    role: str
    image: str
    code: str
    outputs: list[dict[str, Any]]
    sources: list[str]


def _settle(proc: ProcessingSpec, platform: PlatformSettings | None, name: str) -> _Settled:
    errors = ErrorCollector()
    location = default_location(platform)
    role = proc.role or (platform.role_arn if platform is not None else None)
    if not role:
        errors.add(
            "processing.processor.role", None, "required without platform settings: the job's role ARN"
        )
    image = proc.image_uri
    if proc.packaged_image is not None:
        resolved = platform.image_uris.get(proc.packaged_image) if platform is not None else None
        if not resolved:
            errors.add(
                "processing.processor.image_uri",
                proc.image_uri,
                "names a packaged image; its URI comes from the platform settings (--platform FILE)",
            )
        image = resolved or image
    _check_instance_type(proc.instance_type, errors)
    code = code_uri(proc, location, name)
    if code is None:
        errors.add(
            "processing.run.code",
            proc.code,
            "a local file needs platform settings (its upload bucket); or give an s3:// URI",
        )
    outputs = _outputs(proc, location, name, errors)
    sources = [_input_source_uri(i, item.source, platform, errors) for i, item in enumerate(proc.inputs)]
    errors.raise_if_any()
    assert role is not None and code is not None
    return _Settled(role=role, image=image, code=code, outputs=outputs, sources=sources)


def _outputs(
    proc: ProcessingSpec, location: str | None, name: str, errors: ErrorCollector
) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    for i, out in enumerate(proc.outputs):
        destination = output_uri(proc, out.output_name, location, name)
        if destination is None:
            errors.add(
                f"processing.run.outputs[{i}].destination",
                None,
                "required without platform settings: an s3:// URI",
            )
            continue
        outputs.append(
            {
                "OutputName": out.output_name,
                "AppManaged": out.app_managed,
                "S3Output": {
                    "S3Uri": destination,
                    "LocalPath": out.source,
                    "S3UploadMode": out.s3_upload_mode,
                },
            }
        )
    return outputs


def _cluster(proc: ProcessingSpec, platform: PlatformSettings | None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "InstanceType": proc.instance_type,
        "InstanceCount": proc.instance_count,
        "VolumeSizeInGB": proc.volume_size_in_gb,
    }
    volume_key = proc.volume_kms_key
    # As for training: the platform's volume key is left out on instance types with local NVMe.
    if volume_key is None and platform is not None and not has_local_storage(proc.instance_type):
        volume_key = platform.volume_kms_key_id
    if volume_key is not None:
        cluster["VolumeKmsKeyId"] = volume_key
    return cluster


def _add_optional_fields(
    request: dict[str, Any],
    proc: ProcessingSpec,
    platform: PlatformSettings | None,
    outputs: list[dict[str, Any]],
) -> None:
    if outputs:
        output_config: dict[str, Any] = {"Outputs": outputs}
        kms = proc.output_kms_key or (platform.output_kms_key_id if platform is not None else None)
        if kms is not None:
            output_config["KmsKeyId"] = kms
        request["ProcessingOutputConfig"] = output_config
    environment = _environment(proc, platform)
    if environment is not None:
        request["Environment"] = environment
    network = _network_config(proc, platform)
    if network is not None:
        request["NetworkConfig"] = network
    if proc.max_runtime_in_seconds is not None:
        request["StoppingCondition"] = {"MaxRuntimeInSeconds": proc.max_runtime_in_seconds}
    tags = merged_tags(proc.tags, platform)
    if tags is not None:
        request["Tags"] = tags
    if proc.experiment_config:
        request["ExperimentConfig"] = dict(proc.experiment_config)


def _input_source_uri(
    index: int, source: str | Mapping[str, str], platform: PlatformSettings | None, errors: ErrorCollector
) -> str:
    """An input's S3 URI: as given, or `{"s3": "data", "path": P}` under the platform's data bucket."""
    if isinstance(source, str):
        return source
    if platform is None or not platform.data_s3_uri:
        errors.add(
            f"processing.run.inputs[{index}].source",
            dict(source),
            "the data bucket comes from platform settings with a data bucket (--platform FILE)",
        )
        return ""
    return s3_path_join(platform.data_s3_uri, source["path"])


def _environment(proc: ProcessingSpec, platform: PlatformSettings | None) -> dict[str, str] | None:
    if proc.env is None and (platform is None or not platform.environment):
        return None
    return {**(platform.environment if platform is not None else {}), **(proc.env or {})}


def _network_config(proc: ProcessingSpec, platform: PlatformSettings | None) -> dict[str, Any] | None:
    """sagemaker.network.NetworkConfig._to_request_dict; the platform's VPC when jobs run in it."""
    given: Mapping[str, Any] = proc.network_config or {}
    if proc.network_config is None and not (
        platform is not None and platform.jobs_in_vpc and platform.subnets
    ):
        return None
    out: dict[str, Any] = {"EnableNetworkIsolation": bool(given.get("enable_network_isolation", False))}
    if given.get("encrypt_inter_container_traffic") is not None:
        out["EnableInterContainerTrafficEncryption"] = given["encrypt_inter_container_traffic"]
    subnets, groups = given.get("subnets"), given.get("security_group_ids")
    if (
        subnets is None
        and groups is None
        and platform is not None
        and platform.jobs_in_vpc
        and platform.subnets
    ):
        subnets, groups = list(platform.subnets), list(platform.security_group_ids)
    if groups is not None or subnets is not None:
        out["VpcConfig"] = {}
        if groups is not None:
            out["VpcConfig"]["SecurityGroupIds"] = list(groups)
        if subnets is not None:
            out["VpcConfig"]["Subnets"] = list(subnets)
    return out


def _check_instance_type(instance_type: str, errors: ErrorCollector) -> None:
    allowed = enum_values("ProcessingInstanceType")
    if allowed and instance_type not in allowed:
        errors.add(
            "processing.processor.instance_type",
            instance_type,
            f"not a SageMaker processing instance type; {rules.did_you_mean(instance_type, allowed)}",
        )
