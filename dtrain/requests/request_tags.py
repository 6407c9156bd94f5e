"""The Tags every request sends: the spec's own, then the platform's (one source; the training,
processing and inference request builders each wrote this merge)."""

from __future__ import annotations

from dtrain.jobspec.platform import PlatformSettings


def merged_tags(
    own: tuple[tuple[str, str], ...] | None, platform: PlatformSettings | None
) -> list[dict[str, str]] | None:
    """The spec's tags, then the platform's; a key the spec gives keeps the spec's value. None when
    neither has any (the request then sends no Tags); [] when the spec gives an empty map."""
    if own is None and (platform is None or not platform.tags):
        return None
    keys = {key for key, _ in own or ()}
    tags = [{"Key": key, "Value": value} for key, value in own or ()]
    platform_tags = platform.tags.items() if platform is not None else ()
    tags += [{"Key": key, "Value": value} for key, value in platform_tags if key not in keys]
    return tags
