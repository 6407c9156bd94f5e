"""The embedded AWS emulator: synthesized templates deployed into moto, run in-process.

Its public names load on first use (PEP 562): the CLI's parser imports light modules of this
package (server_state's port and state file), which must not pay for the emulator itself
(boto3, moto's models, the IAM engine: most of a second) on every `dtrain --help`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dtrain.emulator.core import Emulator
    from dtrain.emulator.sagemaker import CreateThrottle, EventPlaybackBackend
    from dtrain.emulator.shims import Fault

__all__ = ["CreateThrottle", "Emulator", "EventPlaybackBackend", "Fault"]

_HOMES = {
    "Emulator": "dtrain.emulator.core",
    "CreateThrottle": "dtrain.emulator.sagemaker",
    "EventPlaybackBackend": "dtrain.emulator.sagemaker",
    "Fault": "dtrain.emulator.shims",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
