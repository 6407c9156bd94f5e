"""The hosting requests the `model` / `deploy` / `transform` phases send, in one place.

The requests themselves are the core's (dtrain.inference_request builds them from the spec's
`deploy` / `transform` blocks, SDK-parity tested); this module only names what the
orchestration needs from it, so the phases do not depend on its layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def model_request(
    spec: Mapping[str, Any], platform: Any, *, model_name: str, model_data: str, region: str | None
) -> dict[str, Any]:
    from dtrain import inference_request

    return dict(
        inference_request.build_create_model_request(
            spec, platform, model_name=model_name, model_data=model_data, region=region
        )
    )


def endpoint_config_request(
    spec: Mapping[str, Any], platform: Any, *, config_name: str, model_name: str
) -> dict[str, Any]:
    from dtrain import inference_request

    return dict(
        inference_request.build_create_endpoint_config_request(
            spec, platform, endpoint_config_name=config_name, model_name=model_name
        )
    )


def endpoint_request(
    spec: Mapping[str, Any], platform: Any, *, endpoint_name: str, config_name: str
) -> dict[str, Any]:
    from dtrain import inference_request

    return dict(
        inference_request.build_create_endpoint_request(
            spec, platform, endpoint_name=endpoint_name, endpoint_config_name=config_name
        )
    )


def transform_request(
    spec: Mapping[str, Any], platform: Any, *, job_name: str, model_name: str
) -> dict[str, Any]:
    from dtrain import inference_request

    return dict(
        inference_request.build_create_transform_job_request(
            spec, platform, transform_job_name=job_name, model_name=model_name
        )
    )
