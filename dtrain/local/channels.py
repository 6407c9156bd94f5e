"""Fills input/data/<channel> on every simulated host from the request's InputDataConfig.

Where a channel's data comes from, in order:
1. an explicit local path for the channel (`--data train=PATH`, `channel_paths=`);
2. an S3 URI: `file://` and plain paths are local; `s3://` is downloaded once per job with
   boto3 (it needs credentials: without them, a one-line error says how to pass a path);
3. a FileSystemDataSource: the file system's local stand-in directory (by id or by type,
   `fsx` / `efs`) joined with DirectoryPath. An FSx DirectoryPath starts with the mount
   name, which is the file system's root, so that first component is dropped.

Each host's channel directory is a link to the data (like FSx or FastFile: no copy).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from dtrain.local.errors import LocalModeError
from dtrain.local.layout import HostTree
from dtrain.local.s3 import download_prefix

FILE_SYSTEM_KEYS = {"fsxlustre": "fsx", "efs": "efs"}


def _file_system_source(channel: str, source: Mapping[str, Any], fs_mounts: Mapping[str, Path]) -> Path:
    fs_id = str(source.get("FileSystemId", ""))
    fs_type = str(source.get("FileSystemType", ""))
    key = FILE_SYSTEM_KEYS.get(fs_type.lower(), fs_type.lower())
    root = fs_mounts.get(fs_id) or fs_mounts.get(key)
    if root is None:
        raise LocalModeError(
            f"channel '{channel}': {fs_type} file system {fs_id} has no local directory; "
            f"set file_systems.{key} in the local config (or pass --data {channel}=PATH)"
        )
    parts = PurePosixPath(str(source.get("DirectoryPath", "/"))).parts[1:]
    if key == "fsx" and parts:
        parts = parts[1:]
    return Path(root).joinpath(*parts)


def resolve_channel_source(
    channel: Mapping[str, Any],
    *,
    channel_paths: Mapping[str, Path],
    fs_mounts: Mapping[str, Path],
    download_dir: Path,
) -> Path:
    """The local directory (or file) holding a channel's data, downloading S3 data if needed."""
    name = str(channel["ChannelName"])
    if name in channel_paths:
        path = Path(channel_paths[name]).expanduser()
        origin = f"path {path}"
    else:
        source = channel.get("DataSource", {})
        if "FileSystemDataSource" in source:
            path = _file_system_source(name, source["FileSystemDataSource"], fs_mounts)
            origin = f"file system directory {path}"
        elif "S3DataSource" in source:
            uri = str(source["S3DataSource"]["S3Uri"])
            parsed = urlparse(uri)
            if parsed.scheme == "s3":
                return download_prefix(
                    uri, download_dir / name, what=f"channel '{name}'", hint=f"--data {name}=PATH"
                )
            path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)
            origin = f"{uri}"
        else:
            raise LocalModeError(f"channel '{name}': data source {sorted(source)} is not supported locally")
    if not path.exists():
        raise LocalModeError(f"channel '{name}': {origin} does not exist")
    return path.resolve()


def link_channel(tree: HostTree, channel: str, source: Path) -> None:
    target = tree.channel_dir(channel)
    if source.is_dir():
        os.symlink(source, target)
    else:
        # A single file: SageMaker puts it inside the channel directory.
        target.mkdir(parents=True)
        os.symlink(source, target / source.name)


def populate_channels(
    request: Mapping[str, Any],
    hosts: Sequence[HostTree],
    *,
    channel_paths: Mapping[str, Path],
    fs_mounts: Mapping[str, Path],
    download_dir: Path,
) -> dict[str, Path]:
    names = {str(c["ChannelName"]) for c in request.get("InputDataConfig", [])}
    unknown = sorted(set(channel_paths) - names)
    if unknown:
        raise LocalModeError(
            f"--data names channel(s) {unknown} that the job does not have; its channels: {sorted(names)}"
        )
    sources: dict[str, Path] = {}
    for channel in request.get("InputDataConfig", []):
        source = resolve_channel_source(
            channel, channel_paths=channel_paths, fs_mounts=fs_mounts, download_dir=download_dir
        )
        sources[str(channel["ChannelName"])] = source
        for tree in hosts:
            link_channel(tree, str(channel["ChannelName"]), source)
    return sources
