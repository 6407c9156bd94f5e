"""SageMaker hosting behind the emulator: endpoints served here, transform jobs run here.

moto records CreateEndpoint (InService at once, serving nothing), has no UpdateEndpoint, no
StopTransformJob, calls a transform job Completed at once and answers InvokeEndpoint with a
canned body. The emulator does what SageMaker does instead:

- CreateEndpoint: the endpoint is Creating; the model of its config (CreateModel's
  ModelDataUrl and Environment) is fetched as the model's execution role, unpacked and served
  by the local model server (dtrain.serving, SageMaker's hosting contract: /ping,
  /invocations); then InService. Each status change puts "SageMaker Endpoint State Change" on
  the emulated EventBridge. UpdateEndpoint serves the new config beside the old one and swaps
  when it answers /ping (no downtime); if it cannot, the endpoint stays InService on its
  previous config with a FailureReason, as SageMaker rolls back. DeleteEndpoint stops it.
- InvokeEndpoint (sagemaker-runtime) is forwarded to the endpoint's server; a model error
  comes back as SageMaker's ModelError (424, OriginalStatusCode, OriginalMessage).
- CreateTransformJob: the job runs here as the execution role: S3Prefix or ManifestFile
  input, SplitType Line/RecordIO/None, BatchStrategy SingleRecord/MultiRecord within MaxPayloadInMB,
  one `<input key>.out` per input object under S3OutputPath (AssembleWith Line/None), then
  Completed/Failed and "SageMaker Transform Job State Change". StopTransformJob stops it.

Sources: Developer Guide "Use Batch Transform to Run Inference" ("the output file has the same
name as the input file with .out appended"; manifest format), "How Containers Serve Requests";
API reference CreateTransformJob (MaxPayloadInMB default 6, SplitType, AssembleWith),
UpdateEndpoint, InvokeEndpoint (errors: ModelError 424, ValidationError 400).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import struct
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dtrain.emulator.authz import hook as authz_hook
from dtrain.emulator.class_patches import Patch, class_patches
from dtrain.emulator.lifecycle import Durations
from dtrain.emulator.lifecycle.events import ENDPOINT_STATE_CHANGE, put_state_change
from dtrain.emulator.lifecycle.events import TRANSFORM_JOB_STATE_CHANGE as TRANSFORM_STATE_CHANGE
from dtrain.serving.server import start_server

log = logging.getLogger(__name__)

ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
DEFAULT_MAX_PAYLOAD_MB = 6  # CreateTransformJob: MaxPayloadInMB, default 6
WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
INVOKE_TIMEOUT_S = 60.0  # InvokeEndpoint: the container must answer within 60 s
# InvokeEndpoint's Body: at most 6291456 bytes (botocore sagemaker-runtime 2017-05-13, BodyBlob max).
MAX_INVOKE_BODY_BYTES = 6291456
VARIANT = "AllTraffic"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # moto keeps naive UTC datetimes


class HostingFailed(Exception):
    """A model that cannot be served or a transform that cannot run: its FailureReason."""


@dataclass
class ServedModel:
    """A model server running for an endpoint (or a transform job)."""

    url: str
    handle: Any  # dtrain.serving.server.ServerHandle
    scratch: Path

    def stop(self, grace: float = 15.0) -> None:
        """Stop the server (SIGTERM, `grace` seconds to finish its requests, then SIGKILL to its
        process group) and remove its scratch."""
        with contextlib.suppress(Exception):
            self.handle.stop(grace)
        shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass
class TransformRun:
    job: Any  # moto's FakeTransformJob
    stop: threading.Event = field(default_factory=threading.Event)
    records: int = 0
    objects: int = 0
    # time.monotonic() when the model server answered /ping and when the last output was written
    served_at: float | None = None
    finished_at: float | None = None
    stop_asked_at: float | None = None  # StopTransformJob: Stopping lasts durations.job_stopping_s


@dataclass
class HostingBackend:
    workdir: Path
    workers: int = 1  # per endpoint: the emulator shares this machine's cores with the jobs
    # How long Creating/Updating/Deleting last at least (dtrain.emulator.lifecycle).
    durations: Durations = field(default_factory=Durations)
    endpoints: dict[str, ServedModel] = field(default_factory=dict)
    transforms: dict[str, TransformRun] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    # -- models ----------------------------------------------------------------------------
    def _model(self, backend: Any, model_name: str) -> Any:
        model = backend._models.get(model_name)
        if model is None:
            raise HostingFailed(f"Could not find model '{model_name}'.")
        return model

    def _serve(
        self, backend: Any, model_name: str, what: str, job_env: dict[str, str] | None = None
    ) -> ServedModel:
        """Fetch the model's data as its execution role, unpack it, serve it (ready: /ping 200 and
        a loaded worker). `job_env`: what a transform job adds to the container's environment."""

        model = self._model(backend, model_name)
        container = dict(model.primary_container or {})
        data = str(container.get("ModelDataUrl") or "")
        if not data:
            raise HostingFailed(f"model {model_name} has no ModelDataUrl")
        scratch = Path(self.workdir) / f"{what}-{time.monotonic_ns()}"
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            with authz_hook.execution_role(str(model.execution_role_arn), what):
                model_dir = _unpack(data, scratch)

            env = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
            env.update(job_env or {})
            # The model's SAGEMAKER_MODEL_SERVER_WORKERS as the toolkit reads it; else one worker
            # (the emulator shares this machine's cores with the jobs), not TorchServe's one per CPU.
            workers = None if env.get(WORKERS_ENV) else self.workers
            handle = start_server(model_dir, workers=workers, env=env, log_file=scratch / "server.log")
        except HostingFailed:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        except Exception as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise HostingFailed(f"{type(exc).__name__}: {exc}") from exc
        return ServedModel(url=handle.url, handle=handle, scratch=scratch)

    # -- endpoints ---------------------------------------------------------------------------
    def _endpoint_now(self, backend: Any, endpoint: Any, status: str) -> None:
        """The endpoint enters `status` now: stamped, and its state-change event sent."""
        endpoint.endpoint_status = status
        endpoint.last_modified_time = _now()
        self._emit_endpoint(backend, endpoint)

    def _emit_endpoint(self, backend: Any, endpoint: Any) -> None:
        # Field for field as AWS's sample: EndpointStatus in upper snake case (IN_SERVICE).
        put_state_change(backend, ENDPOINT_STATE_CHANGE, endpoint)
        with self._changed:
            self._changed.notify_all()

    def _config_model(self, backend: Any, config_name: str) -> tuple[str, list[dict[str, Any]]]:
        config = backend.endpoint_configs.get(config_name)
        if config is None:
            raise HostingFailed(f"Could not find endpoint configuration '{config_name}'.")
        variants = list(config.production_variants or [])
        if len(variants) != 1:
            # One model per endpoint is what the platform deploys (Estimator.deploy's AllTraffic).
            raise HostingFailed(f"endpoint config {config_name}: the emulator serves exactly one variant")
        return str(variants[0]["ModelName"]), variants

    def endpoint_created(self, backend: Any, endpoint: Any) -> None:
        endpoint.failure_reason = None
        self._endpoint_now(backend, endpoint, "Creating")
        threading.Thread(
            target=self._bring_up,
            args=(backend, endpoint),
            name=f"endpoint-{endpoint.endpoint_name}",
            daemon=True,
        ).start()

    def _bring_up(self, backend: Any, endpoint: Any) -> None:
        name = str(endpoint.endpoint_name)
        began = time.monotonic()
        try:
            model_name, _ = self._config_model(backend, str(endpoint.endpoint_config_name))
            served = self._serve(backend, model_name, f"endpoint-{name}")
        except HostingFailed as exc:
            self.errors[name] = str(exc)
            endpoint.failure_reason = str(exc)
            self._endpoint_now(backend, endpoint, "Failed")
            return
        self.durations.hold(began, self.durations.endpoint_creating_s)
        with self._lock:
            if backend.endpoints.get(name) is not endpoint:  # deleted while it was created
                served.stop()
                return
            self.endpoints[name] = served
        _log_line(backend, endpoint, f"endpoint {name} serving model {model_name} at {served.url}")
        self._endpoint_now(backend, endpoint, "InService")

    def endpoint_updated(self, backend: Any, endpoint: Any, config_name: str) -> None:
        endpoint.failure_reason = None
        self._endpoint_now(backend, endpoint, "Updating")
        threading.Thread(
            target=self._swap,
            args=(backend, endpoint, config_name),
            name=f"endpoint-{endpoint.endpoint_name}-update",
            daemon=True,
        ).start()

    def _swap(self, backend: Any, endpoint: Any, config_name: str) -> None:
        name = str(endpoint.endpoint_name)
        began = time.monotonic()
        try:
            model_name, variants = self._config_model(backend, config_name)
            served = self._serve(backend, model_name, f"endpoint-{name}")
        except HostingFailed as exc:
            # SageMaker rolls back: the previous config keeps serving, the reason is recorded.
            self.durations.hold(began, self.durations.endpoint_updating_s)
            endpoint.failure_reason = str(exc)
            self._endpoint_now(backend, endpoint, "InService")
            return
        self.durations.hold(began, self.durations.endpoint_updating_s)
        with self._lock:
            old = self.endpoints.get(name)
            self.endpoints[name] = served
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(variants)
        _log_line(backend, endpoint, f"endpoint {name} now serving model {model_name} at {served.url}")
        self._endpoint_now(backend, endpoint, "InService")
        if old is not None:
            old.stop()  # after the swap: requests already on it have been answered

    def endpoint_deleting(self, backend: Any, name: str, remove: Any) -> None:
        """DeleteEndpoint: Deleting (for `durations.endpoint_deleting_s`), then gone."""
        endpoint = backend.endpoints[name]
        endpoint.endpoint_status = "Deleting"
        endpoint.last_modified_time = _now()
        self.endpoint_deleted(name)

        def gone() -> None:
            remove()
            with self._changed:
                self._changed.notify_all()

        if self.durations.endpoint_deleting_s <= 0:
            gone()
            return
        self._emit_endpoint(backend, endpoint)
        timer = threading.Timer(self.durations.endpoint_deleting_s, gone)
        timer.daemon = True
        timer.start()

    def endpoint_deleted(self, name: str) -> None:
        with self._lock:
            served = self.endpoints.pop(name, None)
        if served is not None:
            served.stop()

    def invoke(self, name: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Forward an InvokeEndpoint to the endpoint's server: (status, headers, body)."""
        with self._lock:
            served = self.endpoints.get(name)
        if served is None:
            return _runtime_error(400, "ValidationError", f"Endpoint {name} not found or not InService.")
        request = urllib.request.Request(f"{served.url}/invocations", data=body, method="POST")
        for key in ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes"):
            value = headers.get(key)
            if value:
                request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as reply:
                out = {
                    "Content-Type": reply.headers.get("Content-Type", "application/json"),
                    "x-Amzn-Invoked-Production-Variant": VARIANT,
                }
                return 200, out, reply.read()
        except urllib.error.HTTPError as err:
            message = err.read().decode("utf-8", "replace")
            return _runtime_error(
                424,
                "ModelError",
                f'Received server error ({err.code}) from primary with message "{message[:1000]}".',
                OriginalStatusCode=err.code,
                OriginalMessage=message,
                LogStreamArn=f"{ENDPOINT_LOG_GROUP}/{name}",
            )
        except (urllib.error.URLError, OSError) as err:
            return _runtime_error(500, "InternalFailure", f"the model server of {name} did not answer: {err}")

    def wait_in_service(self, backend: Any, name: str, timeout: float = 120.0) -> str:
        """Test helper: the endpoint's status once it left Creating/Updating."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                endpoint = backend.endpoints.get(name)
                status = str(endpoint.endpoint_status) if endpoint is not None else "Missing"
                if status not in ("Creating", "Updating"):
                    return status
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"endpoint {name} still {status} after {timeout} s")
                self._changed.wait(min(left, 0.5))

    def close(self) -> None:
        with self._lock:
            served, self.endpoints = list(self.endpoints.values()), {}
            runs = list(self.transforms.values())
        for run in runs:
            run.stop.set()
        # The emulator is going away: no request can reach these servers after it, so they get
        # no time to drain (TorchServe's JVM takes ~3 s to exit on SIGTERM: most of make demo's
        # tear-down after its Lambda code); several are stopped at once.
        stopping = [threading.Thread(target=s.stop, args=(0.0,), name="model-server-stop") for s in served]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()

    # -- transform jobs ------------------------------------------------------------------
    def _emit_transform(self, backend: Any, job: Any) -> None:
        put_state_change(backend, TRANSFORM_STATE_CHANGE, job)
        with self._changed:
            self._changed.notify_all()

    def transform_created(self, backend: Any, job: Any) -> None:
        job.transform_job_status = "InProgress"
        job.failure_reason = None
        job.transform_start_time = _now()
        job.transform_end_time = None
        job.last_modified_time = _now()
        run = TransformRun(job)
        with self._lock:
            self.transforms[str(job.transform_job_name)] = run
        threading.Thread(
            target=self._transform,
            args=(backend, run),
            name=f"transform-{job.transform_job_name}",
            daemon=True,
        ).start()

    def transform_stop_requested(self, job: Any) -> None:
        job.transform_job_status = "Stopping"
        job.last_modified_time = _now()
        run = self.transforms.get(str(job.transform_job_name))
        if run is not None:
            run.stop_asked_at = time.monotonic()
            run.stop.set()

    def _transform(self, backend: Any, run: TransformRun) -> None:
        job = run.job
        name = str(job.transform_job_name)
        served: ServedModel | None = None
        status, reason = "Completed", None
        try:
            # A filter that cannot run fails the job before its model server starts (~4 CPU-s).
            check_data_processing(job)
            served = self._serve(backend, str(job.model_name), f"transform-{name}", transform_env(job))
            run.served_at = time.monotonic()
            model = self._model(backend, str(job.model_name))
            with authz_hook.execution_role(str(model.execution_role_arn), name):
                run_transform(backend.region_name, job, served.url, run)
            run.finished_at = time.monotonic()
            if run.stop.is_set():
                status = "Stopped"
        except HostingFailed as exc:
            status, reason = ("Stopped", None) if run.stop.is_set() else ("Failed", str(exc))
        except Exception as exc:  # the job fails as SageMaker's would, with the reason
            log.exception("transform job %s", name)
            status, reason = (
                ("Stopped", None) if run.stop.is_set() else ("Failed", f"{type(exc).__name__}: {exc}")
            )
        finally:
            if served is not None:
                served.stop()
        if reason:
            self.errors[name] = reason
        if status == "Stopped" and run.stop_asked_at is not None:
            self.durations.hold(run.stop_asked_at, self.durations.job_stopping_s)
        job.transform_job_status = status
        job.failure_reason = reason
        job.transform_end_time = _now()
        job.last_modified_time = _now()
        self._emit_transform(backend, job)

    def wait_transform(self, name: str, timeout: float = 300.0) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                run = self.transforms.get(name)
                status = str(run.job.transform_job_status) if run is not None else "Missing"
                if status in ("Completed", "Failed", "Stopped"):
                    return status
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"transform job {name} still {status} after {timeout} s")
                self._changed.wait(min(left, 0.5))


def transform_env(job: Any) -> dict[str, str]:
    """What SageMaker adds to a transform's container environment: the job's Environment and
    SAGEMAKER_BATCH_STRATEGY / SAGEMAKER_MAX_PAYLOAD_IN_MB / SAGEMAKER_MAX_CONCURRENT_TRANSFORMS
    (Developer Guide, "How Containers Serve Requests" for batch transform: the container may read
    them to configure itself)."""
    env = {str(k): str(v) for k, v in (getattr(job, "environment", None) or {}).items()}
    payload = job.max_payload_in_mb if job.max_payload_in_mb is not None else DEFAULT_MAX_PAYLOAD_MB
    env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(payload)
    env["SAGEMAKER_BATCH_STRATEGY"] = str(job.batch_strategy or "SingleRecord")  # as run_transform
    env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(job.max_concurrent_transforms or 1)
    return env


def _runtime_error(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    body = {"ErrorCode": code, "Message": message, **extra}
    return status, {"x-amzn-ErrorType": code, "Content-Type": "application/json"}, json.dumps(body).encode()


def _unpack(model_data: str, scratch: Path) -> Path:
    import boto3

    bucket, _, key = model_data.removeprefix("s3://").partition("/")
    archive = scratch / "model.tar.gz"
    try:
        boto3.client("s3").download_file(bucket, key, str(archive))
    except Exception as exc:
        raise HostingFailed(f"could not download the model data {model_data}: {exc}") from exc
    model_dir = scratch / "model"
    model_dir.mkdir()
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise HostingFailed(f"the model data {model_data} is not a readable model.tar.gz: {exc}") from exc
    archive.unlink()
    return model_dir


def _log_line(backend: Any, endpoint: Any, line: str) -> None:
    """One line in the endpoint's log group, written as SageMaker does with the model's role."""
    import boto3

    try:
        model_name = backend.endpoint_configs[endpoint.endpoint_config_name].production_variants[0][
            "ModelName"
        ]
        role = str(backend._models[model_name].execution_role_arn)
        group = f"{ENDPOINT_LOG_GROUP}/{endpoint.endpoint_name}"
        with authz_hook.execution_role(role, str(endpoint.endpoint_name)):
            _put_log(
                boto3.client("logs", region_name=backend.region_name), group, f"{VARIANT}/i-emulated", [line]
            )
    except Exception as exc:  # logs are best effort; the endpoint serves regardless
        log.warning("endpoint log line not written: %s", exc)


def _put_log(logs: Any, group: str, stream: str, lines: list[str]) -> None:
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now, "message": x} for x in lines if x],
    )


# -- the transform itself -------------------------------------------------------------------
def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def input_objects(s3: Any, data_source: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(bucket, key, name relative to the input prefix) of every object the job reads."""
    source = data_source.get("S3DataSource") or {}
    kind = source.get("S3DataType", "S3Prefix")
    uri = str(source.get("S3Uri", ""))
    bucket, prefix = _s3_parts(uri)
    if kind == "ManifestFile":
        # [{"prefix": "s3://bucket/prefix/"}, "relative/key1", ...] (ManifestFile, S3DataSource)
        body = s3.get_object(Bucket=bucket, Key=prefix)["Body"].read()
        entries = json.loads(body)
        if not entries or not isinstance(entries[0], Mapping) or "prefix" not in entries[0]:
            raise HostingFailed(f'manifest {uri}: its first entry must be {{"prefix": "s3://..."}}')
        base_bucket, base = _s3_parts(str(entries[0]["prefix"]))
        return [(base_bucket, f"{base}{rel}", str(rel)) for rel in entries[1:]]
    if kind != "S3Prefix":
        raise HostingFailed(f"TransformInput S3DataType {kind} is not emulated (S3Prefix, ManifestFile)")
    found: list[tuple[str, str, str]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = str(obj["Key"])
            if key.endswith("/"):
                continue
            # The output keeps the object's path below the input prefix's folder.
            cut = prefix[: prefix.rfind("/") + 1]
            found.append((bucket, key, key[len(cut) :]))
    if not found:
        raise HostingFailed(f"no input objects under {uri}")
    return found


# RecordIO (MXNet's dmlc-core recordio.h, which SageMaker's SplitType RecordIO splits on): each
# record is the magic 0xced7230a, a little-endian uint32 whose upper 3 bits are the part flag
# (0 whole, 1 first, 2 middle, 3 last of a record split around a magic in its data) and lower 29
# the part's length, then the data padded to 4 bytes. A request carries whole records, framing
# included (a batch of several is their concatenation, application/x-recordio-protobuf's stream).
RECORDIO_MAGIC = 0xCED7230A
RECORDIO_HEADER = struct.Struct("<II")


def split_recordio(body: bytes) -> list[bytes]:
    records: list[bytes] = []
    offset, start = 0, 0
    while offset < len(body):
        if len(body) - offset < RECORDIO_HEADER.size:
            raise HostingFailed(f"SplitType RecordIO: a truncated record header at byte {offset}")
        magic, header = RECORDIO_HEADER.unpack_from(body, offset)
        if magic != RECORDIO_MAGIC:
            raise HostingFailed(
                f"SplitType RecordIO: no RecordIO magic at byte {offset}: the input is not RecordIO"
            )
        flag, length = header >> 29, header & ((1 << 29) - 1)
        end = offset + RECORDIO_HEADER.size + ((length + 3) & ~3)
        if end > len(body):
            raise HostingFailed(
                f"SplitType RecordIO: the record at byte {offset} runs past the end of the object"
            )
        if flag in (0, 1):
            start = offset
        if flag in (0, 3):
            records.append(body[start:end])
        offset = end
    return records


def split_records(body: bytes, split_type: str) -> list[bytes]:
    if split_type in ("None", "", None):
        return [body]
    if split_type == "Line":
        return [line for line in body.split(b"\n") if line.strip()]
    if split_type == "RecordIO":
        return split_recordio(body)
    raise HostingFailed(f"TransformInput SplitType {split_type} is not emulated (Line, RecordIO, None)")


def join_batch(batch: list[bytes], split_type: str) -> bytes:
    """One request's body: Line records one a line, RecordIO records back to back, else the object."""
    if split_type == "Line":
        return b"\n".join(batch)
    return b"".join(batch)


def batches(
    records: list[bytes], strategy: str, max_payload_mb: int, split_type: str
) -> Iterator[list[bytes]]:
    """SingleRecord: one record per request; MultiRecord: as many as fit in MaxPayloadInMB."""
    limit = max_payload_mb * 1024 * 1024 if max_payload_mb else None  # 0: unlimited (streaming)
    if strategy != "MultiRecord" or split_type in ("None", "", None):
        for r in records:
            if limit is not None and len(r) > limit:
                raise HostingFailed(f"a record of {len(r)} bytes exceeds MaxPayloadInMB {max_payload_mb}")
            yield [r]
        return
    batch: list[bytes] = []
    size = 0
    separator = 1 if split_type == "Line" else 0  # the newline between Line records
    for r in records:
        if limit is not None and len(r) > limit:
            raise HostingFailed(f"a record of {len(r)} bytes exceeds MaxPayloadInMB {max_payload_mb}")
        if batch and limit is not None and size + separator + len(r) > limit:
            yield batch
            batch, size = [], 0
        size += (separator if batch else 0) + len(r)
        batch.append(r)
    if batch:
        yield batch


def record_filter(path: str | None, what: str) -> Any:
    """DataProcessing's JSONPath subset on one record (a CSV row is an array of its columns):
    `$`, `$[i]`, `$[i,j,...]`, `$[i:j]` (negative indexes too), `$.key`. None: no filter."""
    if path in (None, "", "$"):
        return None
    text = str(path).replace(" ", "")
    found = re.fullmatch(r"\$\[(-?\d+)?:(-?\d+)?\]", text)
    if found:
        low, high = (int(x) if x else None for x in found.groups())
        return lambda record: list(record)[low:high]
    found = re.fullmatch(r"\$\[(-?\d+(?:,-?\d+)*)\]", text)
    if found:
        indexes = [int(x) for x in found.group(1).split(",")]
        return lambda record: [list(record)[i] for i in indexes]
    found = re.fullmatch(r"\$\.([A-Za-z_][A-Za-z0-9_]*)", text)
    if found:
        key = found.group(1)
        return lambda record: record[key]
    raise HostingFailed(f"DataProcessing.{what} {path!r} is not emulated ($, $[i,...], $[i:j], $.key)")


def check_data_processing(job: Any) -> None:
    """The job's InputFilter and OutputFilter are ones record_filter runs, else HostingFailed."""
    processing = job.data_processing or {}
    record_filter(processing.get("InputFilter"), "InputFilter")
    record_filter(processing.get("OutputFilter"), "OutputFilter")


def _decode(raw: bytes, media: str) -> Any:
    if "csv" in media:
        return raw.decode().rstrip("\r\n").split(",")
    return json.loads(raw)


def _encode(value: Any, media: str) -> bytes:
    if "csv" in media:
        items = value if isinstance(value, list) else [value]
        return ",".join(str(v) for v in items).encode()
    return json.dumps(value).encode()


def _join_record(record: Any, output: Any) -> Any:
    """JoinSource Input ("Associate Prediction Results with Input Records"): a JSON object gains
    SageMakerOutput; an array (a CSV row) gets the output's columns appended."""
    if isinstance(record, dict):
        return {**record, "SageMakerOutput": output}
    if isinstance(record, list):
        return record + (output if isinstance(output, list) else [output])
    raise HostingFailed("JoinSource Input needs each input record to be a JSON object or array, or CSV")


def _per_record(
    url: str, batch: list[bytes], content_type: str, accept: str | None, processing: Mapping[str, Any]
) -> bytes:
    """One request with filters / join: each record filtered in, the answer split per record,
    joined to its original input, filtered out."""
    in_filter = record_filter(processing.get("InputFilter"), "InputFilter")
    out_filter = record_filter(processing.get("OutputFilter"), "OutputFilter")
    join = processing.get("JoinSource") == "Input"
    originals = [_decode(r, content_type) for r in batch]
    sent = [
        _encode(in_filter(r), content_type) if in_filter else raw
        for r, raw in zip(originals, batch, strict=True)
    ]
    answer = _invoke(url, b"\n".join(sent), content_type, accept)
    lines = [line for line in answer.split(b"\n") if line.strip()] if len(batch) > 1 else [answer]
    if len(lines) != len(batch):
        raise HostingFailed(f"the model answered {len(lines)} lines for {len(batch)} records")
    out_media = str(accept or content_type)
    results = []
    for record, line in zip(originals, lines, strict=True):
        value = _decode(line, out_media)
        media = out_media
        if join:
            value, media = _join_record(record, value), content_type
        results.append(_encode(out_filter(value) if out_filter else value, media))
    return b"\n".join(results)


def run_transform(region: str, job: Any, url: str, run: TransformRun) -> None:
    import boto3

    s3 = boto3.client("s3", region_name=region)
    transform_input = job.transform_input or {}
    output = job.transform_output or {}
    processing = job.data_processing or {}  # its filters were checked before the server started
    per_record = processing.get("JoinSource") == "Input" or any(
        processing.get(k) not in (None, "", "$") for k in ("InputFilter", "OutputFilter")
    )
    split_type = str(transform_input.get("SplitType") or "None")
    content_type = str(transform_input.get("ContentType") or "application/octet-stream")
    accept = output.get("Accept")
    assemble = str(output.get("AssembleWith") or "None")
    strategy = str(job.batch_strategy or "SingleRecord")
    max_payload = int(job.max_payload_in_mb if job.max_payload_in_mb is not None else DEFAULT_MAX_PAYLOAD_MB)
    out_bucket, out_prefix = _s3_parts(str(output.get("S3OutputPath", "")))
    out_prefix = out_prefix.rstrip("/")
    log_lines: list[str] = []
    for bucket, key, relative in input_objects(s3, transform_input.get("DataSource") or {}):
        if run.stop.is_set():
            return
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        records = split_records(body, split_type)
        answers: list[bytes] = []
        for batch in batches(records, strategy, max_payload, split_type):
            if run.stop.is_set():
                return
            if per_record:
                answer = _per_record(url, batch, content_type, accept, processing)
            else:
                payload = join_batch(batch, split_type)
                answer = _invoke(url, payload, content_type, accept)
            answers.append(answer.rstrip(b"\n") if assemble == "Line" else answer)
            run.records += len(batch)
        joined = b"\n".join(answers) + b"\n" if assemble == "Line" else b"".join(answers)
        out_key = f"{out_prefix}/{relative}.out" if out_prefix else f"{relative}.out"
        s3.put_object(Bucket=out_bucket, Key=out_key, Body=joined)
        run.objects += 1
        log_lines.append(f"s3://{bucket}/{key}: {len(records)} records -> s3://{out_bucket}/{out_key}")
    _put_log(
        boto3.client("logs", region_name=region),
        TRANSFORM_LOG_GROUP,
        f"{job.transform_job_name}/i-emulated",
        log_lines or ["no input"],
    )


def _invoke(url: str, payload: bytes, content_type: str, accept: str | None) -> bytes:
    request = urllib.request.Request(f"{url}/invocations", data=payload, method="POST")
    request.add_header("Content-Type", content_type)
    if accept:
        request.add_header("Accept", str(accept))
    try:
        with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as reply:
            return bytes(reply.read())
    except urllib.error.HTTPError as err:
        message = err.read().decode("utf-8", "replace")[:500]
        raise HostingFailed(f"ClientError: the model answered {err.code}: {message}") from err


# -- the moto patches -------------------------------------------------------------------------
@contextlib.contextmanager
def installed(hosting: HostingBackend) -> Iterator[HostingBackend]:
    """Patch moto's SageMaker hosting calls for the duration of the block (see the docstring)."""
    try:
        with class_patches() as patch:
            _patch_endpoints(hosting, patch)
            _patch_transform_jobs(hosting, patch)
            _patch_runtime(hosting, patch)
            yield hosting
    finally:
        hosting.close()


def _patch_endpoints(hosting: HostingBackend, patch: Patch) -> None:
    """CreateEndpoint, DeleteEndpoint and UpdateEndpoint reach the hosting backend.

    Names in use, calls in a state AWS refuses them in, resources that do not exist and the
    instance quotas: answered before these by the lifecycle gate (dtrain.emulator.lifecycle)."""
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    original_endpoint = SageMakerModelBackend.create_endpoint

    def create_endpoint(self: Any, endpoint_name: str, **kwargs: Any) -> Any:
        endpoint = original_endpoint(self, endpoint_name=endpoint_name, **kwargs)
        hosting.endpoint_created(self, endpoint)
        return endpoint

    original_delete = SageMakerModelBackend.delete_endpoint

    def delete_endpoint(self: Any, endpoint_name: str) -> None:
        hosting.endpoint_deleting(self, endpoint_name, lambda: original_delete(self, endpoint_name))

    def update_endpoint(self: Any) -> str:
        backend = self.sagemaker_backend
        endpoint = backend.endpoints[str(self._get_param("EndpointName"))]
        hosting.endpoint_updated(backend, endpoint, str(self._get_param("EndpointConfigName")))
        return json.dumps({"EndpointArn": endpoint.arn})

    patch(SageMakerModelBackend, "create_endpoint", create_endpoint)
    patch(SageMakerModelBackend, "delete_endpoint", delete_endpoint)
    patch(SageMakerResponse, "update_endpoint", update_endpoint)


def _patch_transform_jobs(hosting: HostingBackend, patch: Patch) -> None:
    """CreateTransformJob and StopTransformJob reach the hosting backend."""
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    original_transform = SageMakerModelBackend.create_transform_job

    def create_transform_job(self: Any, transform_job_name: str, **kwargs: Any) -> Any:
        job = original_transform(self, transform_job_name=transform_job_name, **kwargs)
        hosting.transform_created(self, job)
        return job

    def stop_transform_job(self: Any) -> str:
        job = self.sagemaker_backend.transform_jobs[str(self._get_param("TransformJobName"))]
        if job.transform_job_status == "InProgress":  # a second stop while Stopping: nothing to do
            hosting.transform_stop_requested(job)
        return "{}"

    patch(SageMakerModelBackend, "create_transform_job", create_transform_job)
    patch(SageMakerResponse, "stop_transform_job", stop_transform_job)


def _patch_runtime(hosting: HostingBackend, patch: Patch) -> None:
    """InvokeEndpoint answered by the endpoint's model server, its body passed on as bytes."""
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    def invoke_endpoint(self: Any) -> Any:
        name = self.path.split("/")[2]
        headers = {k: v for k, v in self.headers.items()}
        raw = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode()
        if len(raw) > MAX_INVOKE_BODY_BYTES:
            status, out, body = _runtime_error(
                400,
                "ValidationError",
                f"Request body of {len(raw)} bytes is larger than InvokeEndpoint's limit of "
                f"{MAX_INVOKE_BODY_BYTES} bytes.",
            )
        else:
            status, out, body = hosting.invoke(urllib.parse.unquote(name), raw, headers)
        return status, {**out, "status": status}, body  # moto reads the status from the headers

    patch(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)
    # The body is the model's payload (application/x-npy, images...), not text: moto decodes a
    # request body as UTF-8 before any handler runs unless told not to, and a binary body then
    # failed there with an HTML 500, before the endpoint was even looked up.
    patch(SageMakerRuntimeResponse, "use_raw_body", True)
