"""The emulator's SageMaker follows AWS's documented lifecycles.

moto makes every SageMaker resource ready at once and accepts any call in any state. In the
emulator (dtrain.emulator.core.Emulator, and wherever dtrain.emulator.shims is installed):

- Training, processing and transform jobs are InProgress until they end (a test plays the
  outcome, or the local runner runs them); a stop passes through Stopping for
  `durations.job_stopping_s`. Endpoints pass through Creating (at least
  `durations.endpoint_creating_s`), Updating (`endpoint_updating_s`) and Deleting
  (`endpoint_deleting_s`) before InService / gone. Models and endpoint configs have no states.
- Each call is refused where AWS refuses it, with AWS's code and message (rules.REFUSALS, each
  row with its source): DeleteEndpoint/UpdateEndpoint on an endpoint in progress, UpdateEndpoint
  on a Failed endpoint, Stop*Job on an ended job, Create* of a name in use, calls naming what
  does not exist.
- CreateTrainingJob is held to SageMaker's service-side rules (dtrain.jobspec.service_rules).
- Instance quotas (quotas.QuotaBook, AWS's quota names; warm pools default to 0) refuse a
  Create* with ResourceLimitExceeded worded as SageMaker words it.
- Throttling: `emu.behaviour.throttle_sagemaker("CreateTrainingJob", times=3)` answers the next
  three calls ThrottlingException "Rate exceeded" (dtrain.emulator.service_behaviour);
  `emu.sagemaker.throttle.rate_per_s` limits CreateTrainingJob's rate.
- State-change events are built field for field from AWS's published samples (events.py).

How a test drives it (`emu.lifecycle` is this module's `Lifecycle`):

    emu.lifecycle.durations.endpoint_creating_s = 1.0     # Creating lasts at least 1 s
    emu.lifecycle.durations.job_stopping_s = 0.5          # Stopping lasts 0.5 s
    emu.lifecycle.quotas.set("ml.m5.xlarge for training job usage", 2)
    emu.lifecycle.refusals                                # [(operation, code, message), ...]

Durations default to 0 (the states are still passed through, in order, each with its event).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from dtrain.emulator.lifecycle.quotas import QuotaBook


@dataclass
class Durations:
    """How long each transitional state lasts at least, in seconds (AWS: minutes)."""

    endpoint_creating_s: float = 0.0
    endpoint_updating_s: float = 0.0
    endpoint_deleting_s: float = 0.0
    job_stopping_s: float = 0.0

    @staticmethod
    def hold(since_monotonic: float, seconds: float) -> None:
        """Sleep until `seconds` have passed since `since_monotonic`."""
        left = since_monotonic + seconds - time.monotonic()
        if left > 0:
            time.sleep(left)


@dataclass
class Lifecycle:
    durations: Durations = field(default_factory=Durations)
    quotas: QuotaBook = field(default_factory=QuotaBook)
    refusals: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refused(self, operation: str) -> list[tuple[str, str, str]]:
        return [r for r in self.refusals if r[0] == operation]
