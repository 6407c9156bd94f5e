"""The embedded AWS emulator: synthesized templates deployed into moto, run in-process."""

from dtrain.emulator.core import Emulator
from dtrain.emulator.sagemaker import CreateThrottle, EventPlaybackBackend
from dtrain.emulator.shims import Fault

__all__ = ["CreateThrottle", "Emulator", "EventPlaybackBackend", "Fault"]
