"""Input channels: the three shapes `fit(inputs=...)` takes, plus the platform shortcut.

- an S3 URI string (SDK: `TrainingInput(s3_data=uri)`),
- a TrainingInput-like object (`s3_data`, `distribution`, `input_mode`, ...),
- a FileSystemInput-like object (`file_system_id`, `file_system_type`, `directory_path`,
  `file_system_access_mode`),
- `{"file_system": "fsx"|"efs", "path": ...}`: the stack's own file system,
- `{"s3": "data", "path": ..., <TrainingInput options>}`: a prefix of the stack's own data
  bucket (the one its execution role reads), so a spec runs unchanged on every deployment.

Each parses into a frozen dataclass and renders into one `InputDataConfig` entry exactly as
SDK v2 builds it (S3Prefix, FullyReplicated unless told, InputMode only when given).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector, SpecError
from dtrain.jobspec.instance_groups import GROUP_NAMES
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.values import Custom, Each, MapOf, OneOf, S3Uri, Table, Text, check_s3_uri


@dataclass(frozen=True)
class S3Channel:
    s3_data: str
    distribution: str = "FullyReplicated"
    s3_data_type: str = "S3Prefix"
    input_mode: str | None = None
    content_type: str | None = None
    compression: str | None = None
    record_wrapping: str | None = None
    attribute_names: tuple[str, ...] | None = None
    instance_groups: tuple[str, ...] | None = None  # SDK 2.220 TrainingInput(instance_groups=...)


@dataclass(frozen=True)
class FileSystemChannel:
    file_system_id: str
    file_system_type: str
    directory_path: str
    file_system_access_mode: str = "ro"
    content_type: str | None = None


@dataclass(frozen=True)
class PlatformFileSystemChannel:
    """The stack's own FSx for Lustre or EFS; the id and mount name come from the platform."""

    file_system: Literal["fsx", "efs"]
    path: str
    file_system_access_mode: str = "ro"


@dataclass(frozen=True)
class PlatformS3Channel:
    """A prefix of the stack's data bucket; `options.s3_data` holds the path until resolved."""

    bucket: Literal["data"]
    path: str
    options: S3Channel


Channel = S3Channel | FileSystemChannel | PlatformFileSystemChannel | PlatformS3Channel

S3_CHANNEL_KEYS = frozenset(
    {
        "s3_data",
        "distribution",
        "s3_data_type",
        "input_mode",
        "content_type",
        "compression",
        "record_wrapping",
        "attribute_names",
        "instance_groups",
    }
)
FILE_SYSTEM_CHANNEL_KEYS = frozenset(
    {"file_system_id", "file_system_type", "directory_path", "file_system_access_mode", "content_type"}
)
SHORTCUT_KEYS = frozenset({"file_system", "path", "file_system_access_mode"})
S3_SHORTCUT_KEYS = frozenset({"s3", "path"} | (S3_CHANNEL_KEYS - {"s3_data"}))
PLATFORM_BUCKETS = ("data",)


# TrainingInput.__init__ (SDK 2.220): the S3 channel object's arguments.
S3_CHANNEL_TABLE = Table(
    "inputs.CHANNEL (TrainingInput)",
    {
        "s3_data": S3Uri(bucket_name_rule=True),
        "distribution": OneOf(*rules.S3_DISTRIBUTIONS),
        "s3_data_type": OneOf(*rules.S3_DATA_TYPES),
        "input_mode": OneOf(*rules.TRAINING_INPUT_MODES),
        "content_type": Text(rules.MAX_CONTENT_TYPE),
        "compression": OneOf(*rules.COMPRESSION_TYPES),
        "record_wrapping": OneOf(*rules.RECORD_WRAPPERS),
        # AttributeNames: at most 16 of 1-256 characters.
        "attribute_names": Each(
            Text(rules.MAX_ATTRIBUTE_NAME),
            rules.MAX_ATTRIBUTE_NAMES,
            f"must be a list of at most {rules.MAX_ATTRIBUTE_NAMES} non-empty one-line strings "
            f"of at most {rules.MAX_ATTRIBUTE_NAME} characters",
            description=f"list of at most {rules.MAX_ATTRIBUTE_NAMES} attribute names",
        ),
        "instance_groups": GROUP_NAMES,
    },
    required=("s3_data",),
    defaults={"distribution": "FullyReplicated", "s3_data_type": "S3Prefix"},
    nullable=True,  # a null option is the option left out, as the SDK's TrainingInput(x=None)
)
assert frozenset(S3_CHANNEL_TABLE.args) == S3_CHANNEL_KEYS


# FileSystemInput.__init__ (SDK 2.220): the file-system channel object's arguments.
_FS_ID_RULE = "must be a file system id: fs- and 8 to 17 hex digits"
_DIRECTORY_RULE = "required: an absolute path (/mount_name/dir for FSx)"
FILE_SYSTEM_TABLE = Table(
    "inputs.CHANNEL (FileSystemInput)",
    {
        # botocore FileSystemId: 11-21 characters, fs-[0-9a-f]{8,}.
        "file_system_id": Text(rules.MAX_FILE_SYSTEM_ID, rules.FILE_SYSTEM_ID_RE, _FS_ID_RULE, one_rule=True),
        "file_system_type": OneOf(*rules.FILE_SYSTEM_TYPES),
        # botocore DirectoryPath: at most 4096 characters; FSx paths start with the mount name.
        "directory_path": Text(rules.MAX_DIRECTORY_PATH, re.compile(r"/.*"), _DIRECTORY_RULE, one_rule=True),
        "file_system_access_mode": OneOf(*rules.FILE_SYSTEM_ACCESS_MODES),
        "content_type": Text(rules.MAX_CONTENT_TYPE),
    },
    required=("file_system_id", "file_system_type", "directory_path"),
    defaults={"file_system_access_mode": "ro"},
    missing={
        "file_system_id": _FS_ID_RULE,
        "file_system_type": f"required: one of {', '.join(rules.FILE_SYSTEM_TYPES)}",
        "directory_path": _DIRECTORY_RULE,
    },
    nullable=True,
)

# A path that never leads out of its prefix: no '..' segment (nor an empty one before it).
_NO_DOTDOT = r"(?!(.*/)?\.\.(/|$)).*"
_FS_PATH_RULE = "required: a path inside the file system, without '..'"
SHORTCUT_TABLE = Table(
    "inputs.CHANNEL (the platform's file system)",
    {
        "file_system": OneOf("fsx", "efs", rule="must be 'fsx' or 'efs' (the platform's own file systems)"),
        # Room for the mount name within DirectoryPath's 4096 characters.
        "path": Text(
            rules.MAX_DIRECTORY_PATH - 100,
            re.compile(_NO_DOTDOT),
            _FS_PATH_RULE,
            allow_empty=True,
            one_rule=True,
        ),
        "file_system_access_mode": OneOf(*rules.FILE_SYSTEM_ACCESS_MODES),
    },
    required=("file_system", "path"),
    defaults={"file_system_access_mode": "ro"},
    missing={
        "file_system": "must be 'fsx' or 'efs' (the platform's own file systems)",
        "path": _FS_PATH_RULE,
    },
    nullable=True,
)

_BUCKET_RULE = f"must be one of {', '.join(PLATFORM_BUCKETS)} (the platform's buckets)"
_PREFIX_RULE = "required: a key prefix inside the bucket, without '..'"
S3_SHORTCUT_TABLE = Table(
    "inputs.CHANNEL (the platform's data bucket)",
    {
        "s3": OneOf(*PLATFORM_BUCKETS, rule=_BUCKET_RULE),
        # A key prefix, not a URI, not only slashes; room for s3://<bucket name>/ in the URI's length.
        "path": Text(
            rules.MAX_S3_URI - 70, re.compile(r"(?!s3://)(?!/*$)" + _NO_DOTDOT), _PREFIX_RULE, one_rule=True
        ),
        **{k: v for k, v in S3_CHANNEL_TABLE.args.items() if k != "s3_data"},
    },
    required=("s3", "path"),
    defaults=S3_CHANNEL_TABLE.defaults,
    missing={"s3": _BUCKET_RULE, "path": _PREFIX_RULE},
    nullable=True,
)

# `{"processing_output": NAME}`: filled with that output's S3 URI at request time (dtrain.jobspec.spec
# checks NAME against processing.run.outputs).
PROCESSING_OUTPUT_TABLE = Table(
    "inputs.CHANNEL (a processing output)",
    {"processing_output": Text(rule="must name one of processing.run.outputs", one_rule=True)},
    required=("processing_output",),
    unknown="a processing-output channel takes only processing_output",
)

# Every shape a channel object takes, in the order parse_channel tells them apart.
CHANNEL_TABLES = (
    S3_CHANNEL_TABLE,
    FILE_SYSTEM_TABLE,
    SHORTCUT_TABLE,
    S3_SHORTCUT_TABLE,
    PROCESSING_OUTPUT_TABLE,
)
assert frozenset(FILE_SYSTEM_TABLE.args) == FILE_SYSTEM_CHANNEL_KEYS
assert frozenset(SHORTCUT_TABLE.args) == SHORTCUT_KEYS
assert frozenset(S3_SHORTCUT_TABLE.args) == S3_SHORTCUT_KEYS


def channel_schema() -> dict[str, Any]:
    """A channel: an S3 URI, or one of the objects above (their keys tell them apart)."""
    return {"oneOf": [S3Uri(bucket_name_rule=True).schema(), *(t.schema() for t in CHANNEL_TABLES)]}


def _without_nulls(data: Mapping[str, object]) -> dict[str, object]:
    """A null option is the option left out, as the SDK's TrainingInput(x=None)."""
    return {k: v for k, v in data.items() if v is not None}


def parse_channel(field: str, data: object, errors: ErrorCollector) -> Channel | None:
    """One channel value; problems go to `errors` and the result is None."""
    if isinstance(data, str):
        uri = check_s3_uri(field, data, errors)
        return S3Channel(s3_data=uri) if uri else None
    if not isinstance(data, Mapping):
        errors.add(field, data, "must be an S3 URI, a TrainingInput-like object or a file-system object")
        return None
    if "file_system" in data:
        return _parse_shortcut(field, data, errors)
    if "s3" in data:
        return _parse_s3_shortcut(field, data, errors)
    if "s3_data" in data:
        return _parse_s3_object(field, data, errors)
    if "file_system_id" in data or "file_system_type" in data:
        return _parse_file_system(field, data, errors)
    errors.add(
        field,
        data,
        "a channel object needs s3_data (TrainingInput), file_system_id (FileSystemInput) "
        "file_system or s3 (platform shortcuts)",
    )
    return None


def _read(
    table: Table, field: str, data: Mapping[str, object], errors: ErrorCollector
) -> dict[str, Any] | None:
    """The table's checked values, or None when any key was refused."""
    before = len(errors.errors)
    got = table.read(field, _without_nulls(data), errors)
    return got if got is not None and len(errors.errors) == before else None


def _s3_channel(got: Mapping[str, Any], s3_data: str) -> S3Channel:
    return S3Channel(
        s3_data=s3_data,
        distribution=got.get("distribution", "FullyReplicated"),
        s3_data_type=got.get("s3_data_type", "S3Prefix"),
        input_mode=got.get("input_mode"),
        content_type=got.get("content_type"),
        compression=got.get("compression"),
        record_wrapping=got.get("record_wrapping"),
        attribute_names=got.get("attribute_names"),
        instance_groups=got.get("instance_groups"),
    )


def _parse_s3_object(field: str, data: Mapping[str, object], errors: ErrorCollector) -> S3Channel | None:
    got = _read(S3_CHANNEL_TABLE, field, data, errors)
    return None if got is None else _s3_channel(got, got["s3_data"])


def _parse_file_system(
    field: str, data: Mapping[str, object], errors: ErrorCollector
) -> FileSystemChannel | None:
    got = _read(FILE_SYSTEM_TABLE, field, data, errors)
    if got is None:
        return None
    return FileSystemChannel(
        file_system_id=got["file_system_id"],
        file_system_type=got["file_system_type"],
        directory_path=got["directory_path"],
        file_system_access_mode=got.get("file_system_access_mode", "ro"),
        content_type=got.get("content_type"),
    )


def _parse_shortcut(
    field: str, data: Mapping[str, object], errors: ErrorCollector
) -> PlatformFileSystemChannel | None:
    got = _read(SHORTCUT_TABLE, field, data, errors)
    if got is None:
        return None
    return PlatformFileSystemChannel(
        file_system="fsx" if got["file_system"] == "fsx" else "efs",
        path=got["path"],
        file_system_access_mode=got.get("file_system_access_mode", "ro"),
    )


def _parse_s3_shortcut(
    field: str, data: Mapping[str, object], errors: ErrorCollector
) -> PlatformS3Channel | None:
    got = _read(S3_SHORTCUT_TABLE, field, data, errors)
    if got is None:
        return None
    return PlatformS3Channel(bucket="data", path=got["path"], options=_s3_channel(got, got["path"]))


def parse_processing_output(field: str, data: Mapping[str, object], errors: ErrorCollector) -> str | None:
    """`{"processing_output": NAME}`: NAME when it passes (other keys refused apart, so that NAME
    is still checked against the processing block), else None; problems go to `errors`."""
    got = PROCESSING_OUTPUT_TABLE.read(field, data, errors)
    return None if got is None else got.get("processing_output")


def _read_channel(field: str, data: object, errors: ErrorCollector) -> Channel | None:
    """A channel of `inputs`; a processing-output one is read by dtrain.jobspec.spec, against
    the processing block (None here)."""
    if isinstance(data, Mapping) and "processing_output" in data:
        return None
    return parse_channel(field, data, errors)


_CHANNEL_NAME_RULE = "channel names: 1-64 letters, digits, '.', '-' or '_'"
# fit(inputs=...): channel name -> channel (botocore Channel.ChannelName; InputDataConfig: at most 20).
INPUTS = MapOf(
    Text(rules.MAX_CHANNEL_NAME, rules.CHANNEL_NAME_RE, _CHANNEL_NAME_RULE, one_rule=True),
    Custom(_read_channel, channel_schema, "an S3 URI or a channel object (the tables below)"),
    rules.MAX_CHANNELS,
    "channel name -> channel",
    "channels",
)


def is_file_system_channel(channel: Channel) -> bool:
    return isinstance(channel, FileSystemChannel | PlatformFileSystemChannel)


def shortcut_directory_path(channel: PlatformFileSystemChannel, mount_name: str | None) -> str:
    """FSx for Lustre paths start with the mount name (`/{mount}/{path}`); EFS paths with `/`."""
    rel = channel.path.strip("/")
    head = f"/{mount_name}" if channel.file_system == "fsx" and mount_name else ""
    return f"{head}/{rel}" if rel else (head or "/")


def channel_request(
    name: str, channel: Channel, platform: PlatformSettings | None, field: str
) -> dict[str, Any]:
    """One `InputDataConfig` entry, in the shape and key set SDK v2 sends."""
    entry: dict[str, Any]
    if isinstance(channel, PlatformS3Channel):
        channel = replace(channel.options, s3_data=_platform_s3_uri(channel, platform, field))
    if isinstance(channel, S3Channel):
        source: dict[str, Any] = {
            "S3DataType": channel.s3_data_type,
            "S3Uri": channel.s3_data,
            "S3DataDistributionType": channel.distribution,
        }
        if channel.attribute_names is not None:
            source["AttributeNames"] = list(channel.attribute_names)
        if channel.instance_groups is not None:
            source["InstanceGroupNames"] = list(channel.instance_groups)
        entry = {"DataSource": {"S3DataSource": source}}
        if channel.compression is not None:
            entry["CompressionType"] = channel.compression
        if channel.content_type is not None:
            entry["ContentType"] = channel.content_type
        if channel.record_wrapping is not None:
            entry["RecordWrapperType"] = channel.record_wrapping
        if channel.input_mode is not None:
            entry["InputMode"] = channel.input_mode
    elif isinstance(channel, FileSystemChannel):
        entry = {
            "DataSource": {
                "FileSystemDataSource": {
                    "FileSystemId": channel.file_system_id,
                    "FileSystemType": channel.file_system_type,
                    "DirectoryPath": channel.directory_path,
                    "FileSystemAccessMode": channel.file_system_access_mode,
                }
            }
        }
        if channel.content_type is not None:
            entry["ContentType"] = channel.content_type
    else:
        entry = _shortcut_request(channel, platform, field)
    entry["ChannelName"] = name
    return entry


def _platform_s3_uri(channel: PlatformS3Channel, platform: PlatformSettings | None, field: str) -> str:
    base = platform.data_s3_uri if platform is not None else None
    if not base:
        raise SpecError(
            f"{field}.s3",
            channel.bucket,
            "the data-bucket shortcut needs platform settings with a data bucket (data_s3_uri)",
        )
    uri = f"{base.rstrip('/')}/{channel.path.strip('/')}"
    if len(uri) > rules.MAX_S3_URI:
        raise SpecError(f"{field}.path", channel.path, f"with the bucket, longer than {rules.MAX_S3_URI}")
    return uri


def _shortcut_request(
    channel: PlatformFileSystemChannel, platform: PlatformSettings | None, field: str
) -> dict[str, Any]:
    kind = channel.file_system
    if platform is None:
        raise SpecError(f"{field}.file_system", kind, "the file-system shortcut needs platform settings")
    if kind == "fsx":
        if not platform.fsx_id or not platform.fsx_mount_name:
            raise SpecError(f"{field}.file_system", kind, "the platform has no FSx for Lustre file system")
        fs_id, fs_type, mount = platform.fsx_id, "FSxLustre", platform.fsx_mount_name
    else:
        if not platform.efs_id:
            raise SpecError(f"{field}.file_system", kind, "the platform has no EFS file system")
        fs_id, fs_type, mount = platform.efs_id, "EFS", None
    return {
        "DataSource": {
            "FileSystemDataSource": {
                "FileSystemId": fs_id,
                "FileSystemType": fs_type,
                "DirectoryPath": shortcut_directory_path(channel, mount),
                "FileSystemAccessMode": channel.file_system_access_mode,
            }
        }
    }
