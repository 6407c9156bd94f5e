"""What `dtrain local` shows: a live view while the job runs, a summary when it ends."""

from __future__ import annotations

import queue
import time
from typing import Any

from dtrain.local.job import JobResult, LocalTrainingJob

MAX_LINE = 90


def _short(text: str, width: int = MAX_LINE) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_live(job: LocalTrainingJob, started: float) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    header = Text.assemble(
        ("dtrain local ", "bold"),
        (job.job_name, "cyan"),
        f"  {job.status} / {job.secondary_status}",
        f"  {time.monotonic() - started:5.1f}s",
        f"  {job.distribution or ''}",
    )
    hosts = Table(box=None, pad_edge=False, expand=False)
    for column in ("host", "processes", "epoch", "step", "last line"):
        hosts.add_column(column, no_wrap=True)
    for progress in job.host_progress.values():
        hosts.add_row(
            progress.host,
            f"{progress.running}/{progress.processes}",
            "-" if progress.epoch is None else str(progress.epoch),
            "-" if progress.step is None else str(progress.step),
            _short(progress.last_line),
        )
    parts: list[Any] = [header, hosts]
    latest = job.final_metrics
    if latest:
        metrics = Table(box=None, pad_edge=False, title=None)
        metrics.add_column("metric")
        metrics.add_column("latest", justify="right")
        for name, value in sorted(latest.items()):
            metrics.add_row(name, f"{value:g}")
        parts.append(metrics)
    return Group(*parts)


def follow_live(job: LocalTrainingJob, lines: queue.Queue[tuple[str, str]], console: Any) -> None:
    """Refresh the view until the job ends; log lines scroll above it."""
    from rich.live import Live

    started = time.monotonic()
    with Live(render_live(job, started), console=console, refresh_per_second=4, transient=True) as live:
        while not _finished(job):
            _drain(lines, live.console)
            live.update(render_live(job, started))
            time.sleep(0.2)
        _drain(lines, live.console)


def follow_plain(job: LocalTrainingJob, lines: queue.Queue[tuple[str, str]], console: Any) -> None:
    while not _finished(job):
        _drain(lines, console)
        time.sleep(0.1)
    _drain(lines, console)


def _finished(job: LocalTrainingJob) -> bool:
    return job.status != "InProgress"


def _drain(lines: queue.Queue[tuple[str, str]], console: Any) -> None:
    from rich.markup import escape

    while True:
        try:
            host, line = lines.get_nowait()
        except queue.Empty:
            return
        console.print(f"[dim]\\[{host}][/dim] {escape(line)}", highlight=False, soft_wrap=True)


def print_summary(result: JobResult, console: Any) -> None:
    from rich.table import Table

    colour = {"Completed": "green", "Failed": "red", "Stopped": "yellow"}.get(result.status, "white")
    console.print(
        f"[bold {colour}]{result.status}[/]: {result.job_name} "
        f"({result.distribution or 'no distribution'}, {result.training_seconds}s training)"
    )
    if result.final_metrics:
        table = Table(title="final metrics", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in sorted(result.final_metrics.items()):
            table.add_row(name, f"{value:g}")
        console.print(table)
    if result.failure_reason:
        console.print(f"[red]failure reason:[/] {result.failure_reason}", highlight=False, soft_wrap=True)
        if result.last_log_lines:
            console.print("last log lines:")
            for line in result.last_log_lines[-10:]:
                console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    if result.model_artifact is not None:
        console.print(f"model:   {result.model_artifact}")
    console.print(f"job dir: {result.job_dir} (logs in {result.job_dir / 'logs'})")
