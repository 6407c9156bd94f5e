"""Following a submitted execution to its end: phases, latest metrics, last log line per host.

The view follows SageMaker's secondary status (Starting, Downloading, Training, Interrupted
for a spot reclaim, Uploading) and parses the latest metric values from the job's own log
lines with the job's own MetricDefinitions, the regexes SageMaker itself applies; so the view
shows what the dashboard will, without waiting for CloudWatch metrics to be published.

On a terminal the view is a rich Live panel on stderr; elsewhere (CI, pipes) it prints one
line per change. stdout stays for the final result, so `--json` output remains parseable.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from dtrain.remote.context import RemoteContext
from dtrain.remote.job_lookup import ResolvedJob, refresh
from dtrain.remote.log_merge import JobLogReader, LogLine

PHASES = ("Starting", "Downloading", "Training", "Uploading")
# SageMaker's secondary statuses, grouped into the phases the view shows.
_PHASE_OF = {
    "Pending": "Starting",
    "Starting": "Starting",
    "LaunchingMLInstances": "Starting",
    "PreparingTrainingStack": "Starting",
    "Restarting": "Starting",
    "Downloading": "Downloading",
    "DownloadingTrainingImage": "Downloading",
    "Training": "Training",
    "Updating": "Training",
    "Uploading": "Uploading",
}
INTERRUPTED = "Interrupted"
_TERMINAL_SECONDARY = frozenset(
    {"Completed", "Failed", "Stopped", "Stopping", "MaxRuntimeExceeded", "MaxWaitTimeExceeded"}
)


class MetricTracker:
    """Latest value of each metric definition seen in the log lines."""

    def __init__(self, definitions: Iterable[Mapping[str, Any]] = ()) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for definition in definitions:
            try:
                self._patterns.append((str(definition["Name"]), re.compile(str(definition["Regex"]))))
            except (KeyError, re.error):
                continue  # a bad definition is SageMaker's to report, not ours
        self.latest: dict[str, float] = {}

    @property
    def ready(self) -> bool:
        return bool(self._patterns)

    def feed(self, message: str) -> None:
        for name, pattern in self._patterns:
            match = pattern.search(message)
            if match and match.groups():
                try:
                    self.latest[name] = float(match.group(1))
                except ValueError:
                    continue


def phase_states(secondary_status: str | None, transitions: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each phase as "done", "current" or "pending", from the secondary status history."""
    seen = {_PHASE_OF.get(str(t.get("Status")), "") for t in transitions}
    current = _PHASE_OF.get(secondary_status or "")
    finished = secondary_status in _TERMINAL_SECONDARY
    states: dict[str, str] = {}
    for phase in PHASES:
        if phase == current and not finished:
            states[phase] = "current"
        elif phase in seen:
            states[phase] = "done"
        else:
            states[phase] = "pending"
    return states


@dataclass
class ProgressSnapshot:
    execution_name: str
    execution_status: str
    job_name: str | None = None
    job_status: str | None = None
    secondary_status: str | None = None
    phases: dict[str, str] = field(default_factory=dict)
    interruptions: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    last_lines: dict[str, str] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    other_jobs: dict[str, str] = field(default_factory=dict)  # sweeps: name -> status

    def headline(self) -> str:
        parts = [f"execution {self.execution_status}"]
        if self.job_name:
            state = self.job_status or "?"
            if self.secondary_status and self.secondary_status != self.job_status:
                state += f" / {self.secondary_status}"
            parts.append(f"job {self.job_name}: {state}")
        elif not self.other_jobs:
            parts.append("job not created yet")
        if self.other_jobs:
            parts.append(", ".join(f"{n}: {s}" for n, s in sorted(self.other_jobs.items())))
        if self.interruptions:
            parts.append(f"spot interruptions: {self.interruptions}")
        if self.metrics:
            parts.append(" ".join(f"{k}={v:.6g}" for k, v in sorted(self.metrics.items())))
        return " | ".join(parts)


class ProgressRenderer(Protocol):
    def update(self, snapshot: ProgressSnapshot) -> None: ...

    def close(self) -> None: ...


class LineRenderer:
    """One line per change of status or metrics (non-terminal output)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = ""

    def update(self, snapshot: ProgressSnapshot) -> None:
        line = snapshot.headline()
        if line != self._last:
            print(f"[{snapshot.elapsed_seconds:6.0f}s] {line}", file=self._stream, flush=True)
            self._last = line

    def close(self) -> None:
        return None


class RichRenderer:
    """A live panel: phases with marks, latest metrics, the last line of each host."""

    _MARKS = {"done": "[green]✔[/]", "current": "[yellow]●[/]", "pending": "[dim]○[/]"}

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(console=Console(file=stream), refresh_per_second=4, transient=False)
        self._live.start()

    def _renderable(self, snapshot: ProgressSnapshot) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_row("execution", f"{snapshot.execution_name}: [bold]{snapshot.execution_status}[/]")
        if snapshot.job_name:
            table.add_row("job", f"{snapshot.job_name}: [bold]{snapshot.job_status or '?'}[/]")
            phases = "  ".join(f"{self._MARKS[state]} {phase}" for phase, state in snapshot.phases.items())
            if snapshot.secondary_status == INTERRUPTED or snapshot.interruptions:
                phases += f"  [red]⚡ Interrupted x{max(snapshot.interruptions, 1)}[/]"
            table.add_row("phase", phases)
        for name, status in sorted(snapshot.other_jobs.items()):
            table.add_row("job", f"{name}: {status}")
        for metric, value in sorted(snapshot.metrics.items()):
            table.add_row(metric, f"{value:.6g}")
        for host, line in sorted(snapshot.last_lines.items()):
            table.add_row(f"[cyan]{host}[/]", line[-100:])
        return Panel(table, title=f"dtrain · {snapshot.elapsed_seconds:.0f}s", expand=False)

    def update(self, snapshot: ProgressSnapshot) -> None:
        self._live.update(self._renderable(snapshot))

    def close(self) -> None:
        self._live.stop()


def make_renderer(stream: TextIO | None = None) -> ProgressRenderer:
    target = stream or sys.stderr
    if target.isatty():
        return RichRenderer(target)
    return LineRenderer(target)


class ExecutionFollower:
    """Polls an execution, its job and the job's logs until the execution ends."""

    def __init__(self, context: RemoteContext, resolved: ResolvedJob) -> None:
        self._context = context
        self.resolved = resolved
        self._reader: JobLogReader | None = None
        self._tracker = MetricTracker()
        self._last_lines: dict[str, str] = {}
        self._started = time.monotonic()

    def _consume(self, lines: list[LogLine]) -> None:
        for line in lines:
            self._tracker.feed(line.message)
            self._last_lines[line.host] = line.message

    def poll(self) -> ProgressSnapshot:
        resolved = refresh(self._context, self.resolved)
        job = resolved.training_job
        job_name = resolved.job_name
        if job_name and self._reader is None:
            self._reader = JobLogReader(self._context.logs, job_name)
        if job is not None and not self._tracker.ready:
            definitions = job.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
            self._tracker = MetricTracker(definitions)
        if self._reader is not None:
            self._consume(self._reader.poll())
        transitions = job.get("SecondaryStatusTransitions", []) if job else []
        execution = resolved.execution or {}
        snapshot = ProgressSnapshot(
            execution_name=str(execution.get("name", resolved.query)),
            execution_status=str(execution.get("status", "UNKNOWN")),
            job_name=job_name,
            job_status=job.get("TrainingJobStatus")
            if job
            else (resolved.rows[0].status if resolved.rows else None),
            secondary_status=job.get("SecondaryStatus") if job else None,
            phases=phase_states(job.get("SecondaryStatus") if job else None, transitions),
            interruptions=sum(1 for t in transitions if t.get("Status") == INTERRUPTED),
            metrics=dict(self._tracker.latest),
            last_lines=dict(self._last_lines),
            elapsed_seconds=time.monotonic() - self._started,
        )
        if job_name is None and len(resolved.job_names) > 1:
            snapshot.other_jobs = {
                name: str(resolved.training_jobs.get(name, {}).get("TrainingJobStatus", "Submitting"))
                for name in resolved.job_names
            }
        return snapshot

    def follow(
        self,
        renderer: ProgressRenderer,
        *,
        poll_seconds: float,
        sleep: Callable[[float], None] | None = None,
    ) -> ResolvedJob:
        """Poll until the execution is no longer RUNNING; returns the final state."""
        try:
            while True:
                snapshot = self.poll()
                renderer.update(snapshot)
                if snapshot.execution_status != "RUNNING":
                    return self.resolved
                (sleep or time.sleep)(poll_seconds)
        finally:
            renderer.close()
