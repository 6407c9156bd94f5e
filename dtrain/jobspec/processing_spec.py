"""The `processing` block: SDK v2 `ScriptProcessor(**processor).run(**run)`, typed and checked.

Shape: {"processor": {ScriptProcessor keyword arguments}, "run": {.run() keyword arguments}}.
`run.inputs` / `run.outputs` are lists of ProcessingInput / ProcessingOutput keyword arguments.
The tables below list every argument SDK 2.220 takes: accepted ones with their check, refused
ones with the reason they have no meaning here. All problems are reported in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector
from dtrain.jobspec.estimator_values import PACKAGED_IMAGES
from dtrain.jobspec.experiment_config import EXPERIMENT_CONFIG, parse_experiment_config
from dtrain.jobspec.values import (
    Bool,
    DataSource,
    Each,
    Int,
    Kind,
    ListOf,
    LocalPath,
    Name,
    Nested,
    Obj,
    OneOf,
    Refined,
    S3Uri,
    StrList,
    StrMap,
    Table,
    Tags,
    Text,
)

# SageMaker: LocalPath "must begin with /opt/ml/processing/" (botocore doc of ProcessingS3Input).
PROCESSING_ROOT = "/opt/ml/processing/"
DEFAULT_VOLUME_SIZE_IN_GB = 30  # ScriptProcessor's default
MAX_PROCESSING_IO = 10  # ProcessingInputs / ProcessingOutputs: at most 10 each (botocore model)


_TEXT = Text()
_BOOL = Bool()
_STRS = StrList()
_NETWORK_CONFIG = Obj(
    {
        "enable_network_isolation": _BOOL,
        "security_group_ids": _STRS,
        "subnets": _STRS,
        "encrypt_inter_container_traffic": _BOOL,
    }
)
_LOCAL = LocalPath(PROCESSING_ROOT)


# botocore's ContainerArguments: 1-256 items of at most 256 characters. The SDK sends [] as is
# and SageMaker refuses it; leaving the key out sends none.
_ARGUMENT_RULE = "must be a list of 1 to 256 strings (leave it out for none)"
_ARGUMENTS_IN_FULL = Each(Text(256, allow_empty=True, one_line=False), 256, _ARGUMENT_RULE, min_items=1)


def _argument_length_problem(value: list[str]) -> str | None:
    if _ARGUMENTS_IN_FULL(value) is None:
        return None
    return "each argument: at most 256 characters (ContainerArgument)"


_ARGUMENTS = Refined(
    Each(Text(allow_empty=True), 256, _ARGUMENT_RULE, min_items=1),
    _argument_length_problem,
    "list of 1-256 strings of at most 256 characters",
    schema_kind=_ARGUMENTS_IN_FULL,
)


def _s3_code_problem(value: str) -> str | None:
    return S3Uri()(value) if value.startswith("s3://") else None


# A local file, or an s3:// object.
_CODE = Refined(_TEXT, _s3_code_problem, "local script file, or an s3:// URI")


# ProcessingInput.__init__ (SDK 2.220): name -> kind, or the reason it is refused.
INPUT_ARGS: dict[str, Kind | str] = {
    "source": DataSource(),
    "destination": _LOCAL,
    "input_name": _TEXT,
    "s3_data_type": OneOf("S3Prefix", "ManifestFile"),
    "s3_input_mode": OneOf("File", "Pipe", "FastFile"),
    "s3_data_distribution_type": OneOf("FullyReplicated", "ShardedByS3Key"),
    "s3_compression_type": OneOf("None", "Gzip"),
    "app_managed": _BOOL,
    "s3_input": "give its fields (source, destination, s3_data_type, ...) directly",
    "dataset_definition": "Athena/Redshift dataset definitions are not supported",
}
INPUT_REQUIRED = ("source", "destination")
INPUT_TABLE = Table("processing.run.inputs[]", INPUT_ARGS, INPUT_REQUIRED)

# ProcessingOutput.__init__ (SDK 2.220).
OUTPUT_ARGS: dict[str, Kind | str] = {
    "source": _LOCAL,
    "destination": S3Uri(),
    "output_name": _TEXT,
    "s3_upload_mode": OneOf("EndOfJob", "Continuous"),
    "app_managed": _BOOL,
    "feature_store_output": "Feature Store outputs are not supported",
}
OUTPUT_REQUIRED = ("source",)
OUTPUT_TABLE = Table("processing.run.outputs[]", OUTPUT_ARGS, OUTPUT_REQUIRED)

# ScriptProcessor.__init__ (SDK 2.220).
PROCESSOR_ARGS: dict[str, Kind | str] = {
    "role": _TEXT,
    "image_uri": _TEXT,
    "command": _STRS,
    "instance_count": Int(1, 100),
    "instance_type": _TEXT,
    "volume_size_in_gb": Int(1, 16384),
    "volume_kms_key": _TEXT,
    "output_kms_key": _TEXT,
    "max_runtime_in_seconds": Int(1, 777600),
    "base_job_name": _TEXT,
    "env": StrMap(100),  # botocore ProcessingEnvironmentMap: at most 100
    "tags": Tags(),
    "network_config": _NETWORK_CONFIG,
    "sagemaker_session": "a client-side object; the platform's session is used",
}
PROCESSOR_REQUIRED = ("image_uri", "command", "instance_count", "instance_type")

# ScriptProcessor.run (SDK 2.220).
RUN_ARGS: dict[str, Kind | str] = {
    "code": _CODE,
    "inputs": ListOf("ProcessingInput", INPUT_TABLE.schema, MAX_PROCESSING_IO),
    "outputs": ListOf("ProcessingOutput", OUTPUT_TABLE.schema, MAX_PROCESSING_IO),
    "arguments": _ARGUMENTS,
    "job_name": Name(),
    "experiment_config": EXPERIMENT_CONFIG,
    "kms_key": _TEXT,
    "source_dir": "FrameworkProcessor's packed source_dir is not supported yet; pass a single `code` file",
    "wait": "the platform waits for the job itself (its state-change event)",
    "logs": "logs go to CloudWatch (and the terminal in local mode)",
}
RUN_REQUIRED = ("code",)

PROCESSOR_TABLE = Table(
    "processing.processor",
    PROCESSOR_ARGS,
    PROCESSOR_REQUIRED,
    {"volume_size_in_gb": DEFAULT_VOLUME_SIZE_IN_GB},
)
RUN_TABLE = Table("processing.run", RUN_ARGS, RUN_REQUIRED)
TABLES = (PROCESSOR_TABLE, RUN_TABLE, INPUT_TABLE, OUTPUT_TABLE)


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


def parse_processing(data: object, errors: ErrorCollector) -> ProcessingSpec | None:
    if not isinstance(data, Mapping):
        errors.add("processing", data, 'must be an object: {"processor": {...}, "run": {...}}')
        return None
    before = len(errors.errors)
    for key in data:
        if key not in ("processor", "run"):
            errors.add(f"processing.{key}", data[key], rules.unknown_key_rule(str(key), ("processor", "run")))
    proc = PROCESSOR_TABLE.read("processing.processor", data.get("processor"), errors)
    run = RUN_TABLE.read("processing.run", data.get("run"), errors)
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
            got = INPUT_TABLE.read(f"processing.run.inputs[{i - 1}]", item, errors)
            if got is not None and len(errors.errors) == mark:
                # SDK: a nameless input is "input-<position>" (1-based).
                inputs.append(ProcessingInputSpec(**{"input_name": f"input-{i}", **got}))
        for i, item in enumerate(raw_outputs, 1):
            mark = len(errors.errors)
            got = OUTPUT_TABLE.read(f"processing.run.outputs[{i - 1}]", item, errors)
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
        tags=proc.get("tags"),
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


# The block itself: ScriptProcessor(**processor).run(**run).
PROCESSING_TABLE = Table(
    "processing",
    {"processor": Nested(PROCESSOR_TABLE), "run": Nested(RUN_TABLE)},
    required=("processor", "run"),
)


def processing_schema() -> dict[str, Any]:
    """JSON Schema of the `processing` block, generated from the argument tables."""
    return PROCESSING_TABLE.schema("ScriptProcessor(**processor).run(**run) before training (SDK 2.220)")
