"""How a job's Create call reaches the emulator's SageMaker backend: one patch for training and
processing jobs alike (the training shim and the processing backend each wrote it).

moto's SageMaker model drops fields of the request (Environment, ProcessingResources) and
rewrites others (MetricDefinitions), so the request exactly as the client sent it is kept for
the length of the call; the backend's create rate admits the call or answers
ThrottlingException; moto records the job; the backend is handed the job and that request.
Everything AWS refuses (names in use, quotas, service rules, the role and its keys) is the
lifecycle gate's, answered before this (dtrain.emulator.lifecycle.gate).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any

from dtrain.emulator.class_patches import Patch

# created(moto's SageMaker backend, the job moto made, the request as the client sent it)
Created = Callable[[Any, Any, dict[str, Any]], None]


def patch_job_create(patch: Patch, method: str, sagemaker_backend: Any, created: Created) -> None:
    """Patch moto's `method` (create_training_job, create_processing_job) on its response and
    model classes as the module docstring says."""
    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    sent = threading.local()
    original_response = getattr(SageMakerResponse, method)
    original_create = getattr(SageMakerModelBackend, method)

    def create_response(self: Any) -> Any:
        sent.request = json.loads(self.body) if self.body else {}
        try:
            return original_response(self)
        finally:
            sent.request = None

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not sagemaker_backend.admit_create():
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        request = copy.deepcopy(getattr(sent, "request", None) or {})
        job = original_create(self, *args, **kwargs)
        created(self, job, request)
        return job

    patch(SageMakerResponse, method, create_response)
    patch(SageMakerModelBackend, method, create)
