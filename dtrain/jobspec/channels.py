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

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector, SpecError
from dtrain.jobspec.instance_groups import MAX_GROUP_NAME, MAX_GROUPS, check_group_names
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.values import Custom, OneOf, S3Uri, Table, Text, check_s3_uri


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


def _attribute_names(field: str, value: object, errors: ErrorCollector) -> tuple[str, ...] | None:
    if (
        not isinstance(value, list)
        or len(value) > rules.MAX_ATTRIBUTE_NAMES
        or not all(
            isinstance(n, str) and 0 < len(n) <= rules.MAX_ATTRIBUTE_NAME and "\n" not in n for n in value
        )
    ):
        errors.add(
            field,
            value,
            f"must be a list of at most {rules.MAX_ATTRIBUTE_NAMES} non-empty one-line strings "
            f"of at most {rules.MAX_ATTRIBUTE_NAME} characters",
        )
        return None
    return tuple(value)


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
        "attribute_names": Custom(
            _attribute_names,
            {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": rules.MAX_ATTRIBUTE_NAME},
                "maxItems": rules.MAX_ATTRIBUTE_NAMES,
            },
            f"list of at most {rules.MAX_ATTRIBUTE_NAMES} attribute names",
        ),
        "instance_groups": Custom(
            check_group_names,
            {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_GROUP_NAME},
                "maxItems": MAX_GROUPS,
            },
            "list of instance group names (instance_groups of the estimator)",
        ),
    },
    required=("s3_data",),
    defaults={"distribution": "FullyReplicated", "s3_data_type": "S3Prefix"},
)
assert frozenset(S3_CHANNEL_TABLE.args) == S3_CHANNEL_KEYS


def _opt_enum(
    data: Mapping[str, object], key: str, field: str, allowed: tuple[str, ...], errors: ErrorCollector
) -> str | None:
    """An optional one-of option (absent or null: None), checked by the shared kind."""
    if data.get(key) is None:
        return None
    got = OneOf(*allowed).read(f"{field}.{key}", data[key], "", errors)
    return got if isinstance(got, str) else None


def _opt_str(
    data: Mapping[str, object], key: str, field: str, max_len: int, errors: ErrorCollector
) -> str | None:
    """An optional one-line string (absent or null: None), checked by the shared kind."""
    if data.get(key) is None:
        return None
    got = Text(max_len).read(f"{field}.{key}", data[key], "", errors)
    return got if isinstance(got, str) else None


def _unknown_keys(
    data: Mapping[str, object], allowed: frozenset[str], field: str, errors: ErrorCollector
) -> None:
    for key in data:
        if key not in allowed:
            errors.add(f"{field}.{key}", data[key], rules.unknown_key_rule(str(key), allowed))


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


def _parse_s3_object(field: str, data: Mapping[str, object], errors: ErrorCollector) -> S3Channel | None:
    before = len(errors.errors)
    # A null option is the option left out, as the SDK's TrainingInput(x=None).
    got = S3_CHANNEL_TABLE.read(field, {k: v for k, v in data.items() if v is not None}, errors)
    if len(errors.errors) > before or got is None:
        return None
    return S3Channel(
        s3_data=got["s3_data"],
        distribution=got.get("distribution", "FullyReplicated"),
        s3_data_type=got.get("s3_data_type", "S3Prefix"),
        input_mode=got.get("input_mode"),
        content_type=got.get("content_type"),
        compression=got.get("compression"),
        record_wrapping=got.get("record_wrapping"),
        attribute_names=got.get("attribute_names"),
        instance_groups=got.get("instance_groups"),
    )


def _parse_file_system(
    field: str, data: Mapping[str, object], errors: ErrorCollector
) -> FileSystemChannel | None:
    before = len(errors.errors)
    _unknown_keys(data, FILE_SYSTEM_CHANNEL_KEYS, field, errors)
    fs_id = data.get("file_system_id")
    if not isinstance(fs_id, str) or not (
        rules.full_match(rules.FILE_SYSTEM_ID_RE, fs_id)
        and rules.MIN_FILE_SYSTEM_ID <= len(fs_id) <= rules.MAX_FILE_SYSTEM_ID
    ):
        errors.add(f"{field}.file_system_id", fs_id, "must be a file system id: fs- and 8 to 17 hex digits")
    fs_type = _opt_enum(data, "file_system_type", field, rules.FILE_SYSTEM_TYPES, errors)
    if "file_system_type" not in data:
        errors.add(
            f"{field}.file_system_type", None, f"required: one of {', '.join(rules.FILE_SYSTEM_TYPES)}"
        )
    path = data.get("directory_path")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > rules.MAX_DIRECTORY_PATH:
        errors.add(f"{field}.directory_path", path, "required: an absolute path (/mount_name/dir for FSx)")
    mode = _opt_enum(data, "file_system_access_mode", field, rules.FILE_SYSTEM_ACCESS_MODES, errors)
    content_type = _opt_str(data, "content_type", field, rules.MAX_CONTENT_TYPE, errors)
    if (
        len(errors.errors) > before
        or not isinstance(fs_id, str)
        or fs_type is None
        or not isinstance(path, str)
    ):
        return None
    return FileSystemChannel(
        file_system_id=fs_id,
        file_system_type=fs_type,
        directory_path=path,
        file_system_access_mode=mode or "ro",
        content_type=content_type,
    )


def _parse_shortcut(
    field: str, data: Mapping[str, object], errors: ErrorCollector
) -> PlatformFileSystemChannel | None:
    before = len(errors.errors)
    _unknown_keys(data, SHORTCUT_KEYS, field, errors)
    kind = data.get("file_system")
    if kind not in ("fsx", "efs"):
        errors.add(f"{field}.file_system", kind, "must be 'fsx' or 'efs' (the platform's own file systems)")
    path = data.get("path")
    if (
        not isinstance(path, str)
        or "\n" in path
        or ".." in path.split("/")
        or len(path) > rules.MAX_DIRECTORY_PATH - 100  # room for the mount name
    ):
        errors.add(f"{field}.path", path, "required: a path inside the file system, without '..'")
    mode = _opt_enum(data, "file_system_access_mode", field, rules.FILE_SYSTEM_ACCESS_MODES, errors)
    if len(errors.errors) > before or not isinstance(path, str) or kind not in ("fsx", "efs"):
        return None
    return PlatformFileSystemChannel(
        file_system="fsx" if kind == "fsx" else "efs", path=path, file_system_access_mode=mode or "ro"
    )


def _parse_s3_shortcut(
    field: str, data: Mapping[str, object], errors: ErrorCollector
) -> PlatformS3Channel | None:
    before = len(errors.errors)
    _unknown_keys(data, S3_SHORTCUT_KEYS, field, errors)
    bucket = data.get("s3")
    if bucket not in PLATFORM_BUCKETS:
        errors.add(
            f"{field}.s3", bucket, f"must be one of {', '.join(PLATFORM_BUCKETS)} (the platform's buckets)"
        )
    path = data.get("path")
    if (
        not isinstance(path, str)
        or not path.strip("/")
        or "\n" in path
        or path.startswith("s3://")
        or ".." in path.split("/")
        or len(path) > rules.MAX_S3_URI - 70  # room for s3://<bucket name>/
    ):
        errors.add(f"{field}.path", path, "required: a key prefix inside the bucket, without '..'")
        path = None
    options = {k: v for k, v in data.items() if k in S3_CHANNEL_KEYS}
    # The options parse as a TrainingInput's; the bucket name is a stand-in until resolution.
    parsed = _parse_s3_object(field, {**options, "s3_data": f"s3://platform-data/{path or 'x'}"}, errors)
    if len(errors.errors) > before or parsed is None or path is None or bucket != "data":
        return None
    return PlatformS3Channel(bucket="data", path=path, options=replace(parsed, s3_data=path))


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
