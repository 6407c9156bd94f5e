"""The hosting requests the `model` / `deploy` / `transform` phases send, in one place.

The requests are the core's (dtrain.requests.inference_request builds them from the spec's `deploy` /
`transform` blocks, SDK-parity tested); this module adds only what the orchestration needs
on top, each for a reason:

- the endpoint config is named per execution (`config_name`): updating a live endpoint needs
  a config of a new name, and the config is the key of the Deploy step's ledger row;
- a transform job the spec does not name is named per execution too (SDK v2 names it after
  the training job, which is the training step's ledger key), and its default output goes
  under the platform's output prefix, the one the execution role may write
  (stacks/training_stack.py), instead of the bucket's root.

The spec core and the requests (dtrain.jobspec.spec, dtrain.requests) are imported inside the
functions that build from them, on purpose: they cost about 0.2 s of a cold start (python -X
importtime under the Lambda Python), which every Submit container (it imports
dtrain.orchestration.hosting) pays only in the hosting phases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _spec(spec: Mapping[str, Any]) -> Any:
    from dtrain.jobspec.spec import parse_spec

    return parse_spec(spec)


def repack_plan(
    spec: Mapping[str, Any], platform: Any, training_job_name: str, block: str, region: str | None = None
) -> Any:
    """The repack a block with inference code of its own (entry_point) needs, or None.

    The `model` phase does it (dtrain.orchestration.model_repack), from code in S3: `dtrain
    submit` uploads local code (entry_point / source_dir) under the execution's prefix and
    names the tarball as the block's source_dir; code that is not in S3 by Prepare cannot be
    read by the platform, and is refused there (and at submit, before anything trains)."""
    from dtrain.jobspec.errors import SpecError
    from dtrain.requests import inference_request

    repack = inference_request.model_repack(
        _spec(spec), platform, training_job_name, block=block, region=region
    )
    if repack is not None and not str(repack.source_dir or "").startswith("s3://"):
        raise SpecError(
            f"{block}.source_dir",
            repack.source_dir,
            "the platform reads the inference code from S3: submit with `dtrain submit`, which"
            " uploads a local entry_point / source_dir, or give an s3:// tarball",
        )
    return repack


def endpoint_name(spec: Mapping[str, Any], platform: Any, training_job_name: str) -> str:
    from dtrain.requests import inference_request

    return str(inference_request.endpoint_name_for(_spec(spec), platform, training_job_name))


def model_request(
    spec: Mapping[str, Any],
    platform: Any,
    *,
    training_job_name: str,
    model_data: str,
    block: str,
    region: str | None,
) -> dict[str, Any]:
    from dtrain.requests import inference_request

    return dict(
        inference_request.build_model_request(
            _spec(spec),
            platform,
            training_job_name=training_job_name,
            block=block,
            region=region,
            model_data=model_data,
        )
    )


def endpoint_config_request(
    spec: Mapping[str, Any], platform: Any, *, training_job_name: str, config_name: str
) -> dict[str, Any]:
    from dtrain.requests import inference_request

    return dict(
        inference_request.build_endpoint_config_request(
            _spec(spec), platform, training_job_name=training_job_name, config_name=config_name
        )
    )


def endpoint_request(
    spec: Mapping[str, Any], platform: Any, *, training_job_name: str, config_name: str
) -> dict[str, Any]:
    from dtrain.requests import inference_request

    return dict(
        inference_request.build_endpoint_request(
            _spec(spec), platform, training_job_name=training_job_name, config_name=config_name
        )
    )


def fixed_names(spec: Mapping[str, Any], block: str) -> dict[str, str]:
    """The names the block fixes (`model_name`, transform's `job_name`), by what they name.

    SageMaker keeps a model's name until it is deleted and a transform job's for good, so a fixed
    name serves one execution only: the platform uses it as the base of each execution's name,
    as the SDK does with base_job_name (HostingRequest.name_from)."""
    from dtrain.requests import inference_request

    parsed = _spec(spec)
    model, _ = inference_request._model_of(parsed, block)
    out: dict[str, str] = {}
    if model.model_name is not None:
        out["model"] = str(model.model_name)
    if block == "transform" and parsed.transform is not None and parsed.transform.job_name is not None:
        out["transform"] = str(parsed.transform.job_name)
    return out


def transform_request(
    spec: Mapping[str, Any], platform: Any, *, training_job_name: str, job_name: str
) -> dict[str, Any]:
    from dtrain.requests import inference_request

    parsed = _spec(spec)
    request = dict(
        inference_request.build_transform_job_request(parsed, platform, training_job_name=training_job_name)
    )
    request["TransformJobName"] = job_name  # per execution: see fixed_names
    if parsed.transform is not None and parsed.transform.output_path is None and platform is not None:
        output = dict(request["TransformOutput"])
        output["S3OutputPath"] = (
            f"{str(platform.output_s3_uri).rstrip('/')}/{request['TransformJobName']}/output"
        )
        request["TransformOutput"] = output
    return request
