"""The `processing` block: SDK v2 `ScriptProcessor(**processor).run(**run)`, typed and checked.

Shape: {"processor": {ScriptProcessor keyword arguments}, "run": {.run() keyword arguments}}.
`run.inputs` / `run.outputs` are lists of ProcessingInput / ProcessingOutput keyword arguments.
The tables below list every argument SDK 2.220 takes: accepted ones with their check, refused
ones with the reason they have no meaning here. All problems are reported in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.estimator_values import PACKAGED_IMAGES
from dtrain.jobspec.experiment_config import parse_experiment_config

# SageMaker: LocalPath "must begin with /opt/ml/processing/" (botocore doc of ProcessingS3Input).
PROCESSING_ROOT = "/opt/ml/processing/"
DEFAULT_VOLUME_SIZE_IN_GB = 30  # ScriptProcessor's default
MAX_PROCESSING_IO = 10  # ProcessingInputs / ProcessingOutputs: at most 10 each (botocore model)

Check = Callable[[object], str | None]


def _str(value: object) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def _s3(value: object) -> str | None:
    """s3://bucket[/key] with a bucket, and no '.' or '..' segment in the key.

    S3 stores `a/../b` as that very key, but every tool that maps keys to files (local mode's
    S3 stand-in, `aws s3 sync`, the SDK's local mode) reads it as a path that leaves its
    prefix: `s3://../../victim` once removed a folder outside the work directory."""
    if not isinstance(value, str) or not value.startswith("s3://"):
        return "must be an s3:// URI"
    if len(value) > rules.MAX_S3_URI:
        return f"longer than {rules.MAX_S3_URI} characters"
    bucket, _, key = value[len("s3://") :].partition("/")
    if not bucket or bucket in (".", ".."):
        return "must name a bucket: s3://bucket/key"
    if any(part in (".", "..") for part in key.split("/")):
        return "no '.' or '..' segment in the key (it would lead out of its prefix)"
    return None


def _code(value: object) -> str | None:
    problem = _str(value)
    if problem is None and isinstance(value, str) and value.startswith("s3://"):
        return _s3(value)
    return problem


def _int(lo: int, hi: int) -> Check:
    def check(value: object) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        return None if ok else f"must be an integer from {lo} to {hi}"

    return check


def _bool(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _str_list(value: object) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return None if ok else "must be a list of strings"


def _str_map(value: object) -> str | None:
    ok = isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
    return None if ok else "must be an object of string -> string"


def _tags(value: object) -> str | None:
    ok = isinstance(value, list) and all(
        isinstance(t, Mapping) and set(t) == {"Key", "Value"} and all(isinstance(v, str) for v in t.values())
        for t in value
    )
    return None if ok else 'must be a list of {"Key": ..., "Value": ...}'


def _one_of(*allowed: str) -> Check:
    def check(value: object) -> str | None:
        if value in allowed:
            return None
        return f"must be one of {', '.join(allowed)}" + (
            f"; {rules.did_you_mean(value, allowed)}" if isinstance(value, str) else ""
        )

    return check


def _input_source(value: object) -> str | None:
    # As the training inputs' `{"s3": "data", "path": ...}`: a prefix of the platform's data
    # bucket (the one its execution role reads), so a spec runs unchanged on every deployment.
    if isinstance(value, Mapping) and set(value) == {"s3", "path"} and value["s3"] == "data":
        path = value["path"]
        if isinstance(path, str) and path.strip("/") and not {".", ".."} & set(path.split("/")):
            return None
    elif isinstance(value, str) and value.startswith("s3://"):
        return _s3(value)
    return 'must be an s3:// URI or {"s3": "data", "path": PREFIX} (the platform\'s data bucket)'


def _local_path(value: object) -> str | None:
    if isinstance(value, str) and value.startswith(PROCESSING_ROOT) and ".." not in value.split("/"):
        return None
    return f"must be an absolute path under {PROCESSING_ROOT} (no '..')"


_NETWORK_CONFIG: dict[str, Check] = {
    "enable_network_isolation": _bool,
    "security_group_ids": _str_list,
    "subnets": _str_list,
    "encrypt_inter_container_traffic": _bool,
}


def _network_config(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return f"must be an object with any of {', '.join(_NETWORK_CONFIG)}"
    for key, item in value.items():
        if key not in _NETWORK_CONFIG:
            return f"{key}: {rules.unknown_key_rule(str(key), _NETWORK_CONFIG)}"
        problem = _NETWORK_CONFIG[key](item)
        if problem:
            return f"{key}: {problem}"
    return None


def _arguments(value: object) -> str | None:
    # botocore's ContainerArguments: 1-256 items of at most 256 characters. The SDK sends [] as is
    # and SageMaker refuses it; leaving the key out sends none.
    if not isinstance(value, list) or _str_list(value) is not None or not 1 <= len(value) <= 256:
        return "must be a list of 1 to 256 strings (leave it out for none)"
    if any(len(v) > 256 for v in value):
        return "each argument: at most 256 characters (ContainerArgument)"
    return None


# ScriptProcessor.__init__ (SDK 2.220): name -> check, or the reason it is refused.
PROCESSOR_ARGS: dict[str, Check | str] = {
    "role": _str,
    "image_uri": _str,
    "command": _str_list,
    "instance_count": _int(1, 100),
    "instance_type": _str,
    "volume_size_in_gb": _int(1, 16384),
    "volume_kms_key": _str,
    "output_kms_key": _str,
    "max_runtime_in_seconds": _int(1, 777600),
    "base_job_name": _str,
    "env": _str_map,
    "tags": _tags,
    "network_config": _network_config,
    "sagemaker_session": "a client-side object; the platform's session is used",
}
PROCESSOR_REQUIRED = ("image_uri", "command", "instance_count", "instance_type")

# ScriptProcessor.run (SDK 2.220).
RUN_ARGS: dict[str, Check | str] = {
    "code": _code,
    "inputs": lambda v: None if isinstance(v, list) else "must be a list of ProcessingInput objects",
    "outputs": lambda v: None if isinstance(v, list) else "must be a list of ProcessingOutput objects",
    "arguments": _arguments,
    "job_name": _str,
    "experiment_config": lambda v: None,  # checked by dtrain.jobspec.experiment_config
    "kms_key": _str,
    "source_dir": "FrameworkProcessor's packed source_dir is not supported yet; pass a single `code` file",
    "wait": "the platform waits for the job itself (its state-change event)",
    "logs": "logs go to CloudWatch (and the terminal in local mode)",
}
RUN_REQUIRED = ("code",)

# ProcessingInput.__init__ (SDK 2.220).
INPUT_ARGS: dict[str, Check | str] = {
    "source": _input_source,
    "destination": _local_path,
    "input_name": _str,
    "s3_data_type": _one_of("S3Prefix", "ManifestFile"),
    "s3_input_mode": _one_of("File", "Pipe", "FastFile"),
    "s3_data_distribution_type": _one_of("FullyReplicated", "ShardedByS3Key"),
    "s3_compression_type": _one_of("None", "Gzip"),
    "app_managed": _bool,
    "s3_input": "give its fields (source, destination, s3_data_type, ...) directly",
    "dataset_definition": "Athena/Redshift dataset definitions are not supported",
}
INPUT_REQUIRED = ("source", "destination")

# ProcessingOutput.__init__ (SDK 2.220).
OUTPUT_ARGS: dict[str, Check | str] = {
    "source": _local_path,
    "destination": _s3,
    "output_name": _str,
    "s3_upload_mode": _one_of("EndOfJob", "Continuous"),
    "app_managed": _bool,
    "feature_store_output": "Feature Store outputs are not supported",
}
OUTPUT_REQUIRED = ("source",)


@dataclass(frozen=True)
class ProcessingInputSpec:
    input_name: str
    # An s3:// URI, or {"s3": "data", "path": ...}: resolved under the platform's data bucket.
    source: str | Mapping[str, str]
    destination: str
    s3_data_type: str = "S3Prefix"
    s3_input_mode: str = "File"
    s3_data_distribution_type: str = "FullyReplicated"
    s3_compression_type: str = "None"
    app_managed: bool = False


@dataclass(frozen=True)
class ProcessingOutputSpec:
    output_name: str
    source: str
    destination: str | None = None  # None: s3://<bucket>/<job>/output/<name>, as the SDK
    s3_upload_mode: str = "EndOfJob"
    app_managed: bool = False


@dataclass(frozen=True)
class ProcessingSpec:
    image_uri: str
    command: tuple[str, ...]
    instance_type: str
    instance_count: int
    code: str
    inputs: tuple[ProcessingInputSpec, ...] = ()
    outputs: tuple[ProcessingOutputSpec, ...] = ()
    arguments: tuple[str, ...] | None = None
    volume_size_in_gb: int = DEFAULT_VOLUME_SIZE_IN_GB
    volume_kms_key: str | None = None
    output_kms_key: str | None = None
    max_runtime_in_seconds: int | None = None
    base_job_name: str | None = None
    role: str | None = None
    env: Mapping[str, str] | None = None
    tags: tuple[tuple[str, str], ...] | None = None
    network_config: Mapping[str, Any] | None = None
    job_name: str | None = None
    experiment_config: Mapping[str, str] | None = None
    kms_key: str | None = None

    @property
    def packaged_image(self) -> str | None:
        return self.image_uri if self.image_uri in PACKAGED_IMAGES else None

    @property
    def local_code(self) -> bool:
        return not self.code.startswith("s3://")


def _read(
    field: str,
    data: object,
    table: Mapping[str, Check | str],
    required: tuple[str, ...],
    errors: ErrorCollector,
) -> dict[str, Any] | None:
    """The keys of one object that pass their check; every unknown, refused, missing or bad key
    is added to `errors` (the caller goes on checking nested lists, all in one pass)."""
    if not isinstance(data, Mapping):
        errors.add(field, data, f"must be an object ({', '.join(required)} required)")
        return None
    for key in required:
        if key not in data:
            errors.add(f"{field}.{key}", None, "required")
    good: dict[str, Any] = {}
    for key, value in data.items():
        entry = table.get(str(key))
        if entry is None:
            errors.add(f"{field}.{key}", value, rules.unknown_key_rule(str(key), table))
        elif isinstance(entry, str):
            errors.add(f"{field}.{key}", value, f"not supported: {entry}")
        elif (problem := entry(value)) is not None:
            errors.add(f"{field}.{key}", value, problem)
        else:
            good[str(key)] = value
    return good


def parse_processing(data: object, errors: ErrorCollector) -> ProcessingSpec | None:
    if not isinstance(data, Mapping):
        errors.add("processing", data, 'must be an object: {"processor": {...}, "run": {...}}')
        return None
    before = len(errors.errors)
    for key in data:
        if key not in ("processor", "run"):
            errors.add(f"processing.{key}", data[key], rules.unknown_key_rule(str(key), ("processor", "run")))
    proc = _read("processing.processor", data.get("processor"), PROCESSOR_ARGS, PROCESSOR_REQUIRED, errors)
    run = _read("processing.run", data.get("run"), RUN_ARGS, RUN_REQUIRED, errors)
    inputs: list[ProcessingInputSpec] = []
    outputs: list[ProcessingOutputSpec] = []
    experiment_config = None
    if run is not None:
        raw_inputs, raw_outputs = run.get("inputs") or [], run.get("outputs") or []
        for kind, items in (("inputs", raw_inputs), ("outputs", raw_outputs)):
            if len(items) > MAX_PROCESSING_IO:
                errors.add(f"processing.run.{kind}", len(items), f"at most {MAX_PROCESSING_IO}")
        for i, item in enumerate(raw_inputs, 1):
            mark = len(errors.errors)
            got = _read(f"processing.run.inputs[{i - 1}]", item, INPUT_ARGS, INPUT_REQUIRED, errors)
            if got is not None and len(errors.errors) == mark:
                # SDK: a nameless input is "input-<position>" (1-based).
                inputs.append(ProcessingInputSpec(**{"input_name": f"input-{i}", **got}))
        for i, item in enumerate(raw_outputs, 1):
            mark = len(errors.errors)
            got = _read(f"processing.run.outputs[{i - 1}]", item, OUTPUT_ARGS, OUTPUT_REQUIRED, errors)
            if got is not None and len(errors.errors) == mark:
                outputs.append(ProcessingOutputSpec(**{"output_name": f"output-{i}", **got}))
        if run.get("experiment_config") is not None:
            experiment_config = parse_experiment_config(
                "processing.run.experiment_config", run["experiment_config"], errors
            )
        _check_names(inputs, outputs, errors)
    if len(errors.errors) > before or proc is None or run is None:
        return None
    return ProcessingSpec(
        image_uri=proc["image_uri"],
        command=tuple(proc["command"]),
        instance_type=proc["instance_type"],
        instance_count=proc["instance_count"],
        code=run["code"],
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        arguments=tuple(run["arguments"]) if run.get("arguments") is not None else None,
        volume_size_in_gb=proc.get("volume_size_in_gb", DEFAULT_VOLUME_SIZE_IN_GB),
        volume_kms_key=proc.get("volume_kms_key"),
        output_kms_key=proc.get("output_kms_key"),
        max_runtime_in_seconds=proc.get("max_runtime_in_seconds"),
        base_job_name=proc.get("base_job_name"),
        role=proc.get("role"),
        env=dict(proc["env"]) if proc.get("env") is not None else None,
        tags=tuple((t["Key"], t["Value"]) for t in proc["tags"]) if proc.get("tags") is not None else None,
        network_config=dict(proc["network_config"]) if proc.get("network_config") is not None else None,
        job_name=run.get("job_name"),
        experiment_config=experiment_config,
        kms_key=run.get("kms_key"),
    )


def _check_names(
    inputs: list[ProcessingInputSpec], outputs: list[ProcessingOutputSpec], errors: ErrorCollector
) -> None:
    # SageMaker refuses duplicate input/output names; "code" is the SDK's own input for the script.
    seen: set[str] = set()
    for i, item in enumerate(inputs):
        if item.input_name == "code" or item.input_name in seen:
            errors.add(
                f"processing.run.inputs[{i}].input_name", item.input_name, "must be unique and not 'code'"
            )
        seen.add(item.input_name)
    seen = set()
    for i, out in enumerate(outputs):
        if out.output_name in seen:
            errors.add(f"processing.run.outputs[{i}].output_name", out.output_name, "must be unique")
        seen.add(out.output_name)


# JSON Schema of each accepted argument (dtrain.jobspec.schema); a test checks it covers the tables.
_STR = {"type": "string", "minLength": 1}
_STRS = {"type": "array", "items": {"type": "string"}}
_S3_URI = {"type": "string", "pattern": "^s3://"}
_LOCAL = {"type": "string", "pattern": f"^{PROCESSING_ROOT}"}
_ARG_SCHEMAS: dict[str, dict[str, Any]] = {
    "role": _STR,
    "image_uri": _STR,
    "command": _STRS,
    "instance_count": {"type": "integer", "minimum": 1, "maximum": 100},
    "instance_type": _STR,
    "volume_size_in_gb": {
        "type": "integer",
        "minimum": 1,
        "maximum": 16384,
        "default": DEFAULT_VOLUME_SIZE_IN_GB,
    },
    "volume_kms_key": _STR,
    "output_kms_key": _STR,
    "max_runtime_in_seconds": {"type": "integer", "minimum": 1, "maximum": 777600},
    "base_job_name": _STR,
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "tags": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"Key": {"type": "string"}, "Value": {"type": "string"}},
            "required": ["Key", "Value"],
            "additionalProperties": False,
        },
    },
    "network_config": {
        "type": "object",
        "properties": {
            "enable_network_isolation": {"type": "boolean"},
            "encrypt_inter_container_traffic": {"type": "boolean"},
            "subnets": _STRS,
            "security_group_ids": _STRS,
        },
        "additionalProperties": False,
    },
    "code": _STR,
    "arguments": _STRS,
    "job_name": _STR,
    "kms_key": _STR,
    "app_managed": {"type": "boolean"},
    "input_name": _STR,
    "output_name": _STR,
    "s3_data_type": {"enum": ["S3Prefix", "ManifestFile"]},
    "s3_input_mode": {"enum": ["File", "Pipe", "FastFile"]},
    "s3_data_distribution_type": {"enum": ["FullyReplicated", "ShardedByS3Key"]},
    "s3_compression_type": {"enum": ["None", "Gzip"]},
    "s3_upload_mode": {"enum": ["EndOfJob", "Continuous"]},
}


def _object_schema(
    table: Mapping[str, Check | str], required: tuple[str, ...], special: Mapping[str, Any]
) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for name, entry in table.items():
        if isinstance(entry, str):
            props[name] = {"not": {}, "description": f"refused: {entry}"}
        else:
            props[name] = special.get(name) or _ARG_SCHEMAS[name]
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


def processing_schema(experiment_config: Mapping[str, Any]) -> dict[str, Any]:
    """JSON Schema of the `processing` block, derived from the argument tables."""
    data_shortcut = {
        "type": "object",
        "properties": {"s3": {"enum": ["data"]}, "path": {"type": "string", "minLength": 1}},
        "required": ["s3", "path"],
        "additionalProperties": False,
    }
    source = {"oneOf": [_S3_URI, data_shortcut]}
    inputs = _object_schema(INPUT_ARGS, INPUT_REQUIRED, {"source": source, "destination": _LOCAL})
    outputs = _object_schema(OUTPUT_ARGS, OUTPUT_REQUIRED, {"source": _LOCAL, "destination": _S3_URI})
    run_special = {
        "inputs": {"type": "array", "items": inputs, "maxItems": MAX_PROCESSING_IO},
        "outputs": {"type": "array", "items": outputs, "maxItems": MAX_PROCESSING_IO},
        "experiment_config": experiment_config,
    }
    return {
        "type": "object",
        "properties": {
            "processor": _object_schema(PROCESSOR_ARGS, PROCESSOR_REQUIRED, {}),
            "run": _object_schema(RUN_ARGS, RUN_REQUIRED, run_special),
        },
        "required": ["processor", "run"],
        "additionalProperties": False,
        "description": "ScriptProcessor(**processor).run(**run) before training (SDK 2.220)",
    }
