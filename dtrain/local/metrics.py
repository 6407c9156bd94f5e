"""Metrics from log lines with the request's MetricDefinitions, as SageMaker extracts them.

Every line of every host is matched against every definition; the first group of a match
is the value. The final value of each metric is its last one (FinalMetricDataList).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Used for the progress view when the request defines no epoch/step metrics.
EPOCH = re.compile(r"\bepoch[=: ]+([0-9]+)")
STEP = re.compile(r"\bstep[=: ]+([0-9]+)")


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    pattern: re.Pattern[str]


def compile_definitions(definitions: Sequence[Mapping[str, Any]]) -> list[MetricDefinition]:
    return [MetricDefinition(str(d["Name"]), re.compile(str(d["Regex"]))) for d in definitions]


@dataclass
class MetricSample:
    name: str
    value: float
    timestamp: float
    host: str


@dataclass
class MetricLog:
    definitions: list[MetricDefinition]
    samples: list[MetricSample] = field(default_factory=list)
    latest: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_request(cls, request: Mapping[str, Any]) -> MetricLog:
        definitions = request.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
        return cls(compile_definitions(definitions))

    def feed(self, host: str, line: str) -> list[MetricSample]:
        found: list[MetricSample] = []
        for definition in self.definitions:
            match = definition.pattern.search(line)
            if not match or not match.groups():
                continue
            try:
                value = float(match.group(1))
            except (TypeError, ValueError):
                continue
            found.append(MetricSample(definition.name, value, time.time(), host))
        if found:
            with self._lock:
                self.samples.extend(found)
                for sample in found:
                    self.latest[sample.name] = sample.value
        return found

    def final(self) -> dict[str, float]:
        with self._lock:
            return dict(self.latest)
