"""Launched processes: their output routed line by line to simulated hosts, and stopping
every one of them, children included.

Each launcher (torchrun, mpirun, python) starts in a session of its own, so a signal to its
process group reaches what it forked. Not everything stays in that group: torchrun puts each
worker in a new session. So every process of a run also carries a marker variable
(DTRAIN_LOCAL_RUN=<id>) in its environment, and stopping ends with a sweep of /proc for
anything still carrying it: no orphans, whatever the launcher did.

The same sweep runs when dtrain itself dies without stopping them (SIGHUP, SIGKILL, a crash):
`start_reaper` starts dtrain/local/reaper.py, which waits for dtrain's end on a pipe.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

RUN_MARKER_ENV = "DTRAIN_LOCAL_RUN"
# mpirun --tag-output prefixes each line with [jobid,rank]<stream>:
MPI_TAG = re.compile(r"^\[(\d+),(\d+)\]<(stdout|stderr|stddiag)>:(.*)$")

LineHandler = Callable[[str, str], None]


@dataclass
class ProcessSpec:
    """One OS process to launch. `host` labels its output; for mpirun, `rank_hosts` maps
    each MPI rank (by its tag) to the simulated host it stands for."""

    host: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    rank_hosts: Sequence[str] | None = None
    # A daemon (a parameter server) is not waited for: the job ends when the others do.
    daemon: bool = False
    name: str = ""


@dataclass
class RunningProcess:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    reader: threading.Thread
    last_lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()


def route_line(spec: ProcessSpec, raw: str) -> tuple[str, str]:
    """(host, text) for one output line of a launched process."""
    if spec.rank_hosts:
        match = MPI_TAG.match(raw)
        if match:
            rank = int(match.group(2))
            hosts = spec.rank_hosts
            return (hosts[rank] if rank < len(hosts) else spec.host), match.group(4)
    return spec.host, raw


def _pump(process: RunningProcess, stream: IO[bytes], on_line: LineHandler, keep: int) -> None:
    for chunk in iter(stream.readline, b""):
        raw = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
        host, text = route_line(process.spec, raw)
        process.last_lines.append(f"[{host}] {text}")
        if len(process.last_lines) > keep:
            del process.last_lines[0]
        on_line(host, text)
    stream.close()


# One reaper per run, started by the run's first launch and closed by its stop_all.
_REAPERS: dict[str, subprocess.Popen[bytes]] = {}
_REAPERS_LOCK = threading.Lock()
# dtrain is gone: a short grace (its own stop uses the config's), then SIGKILL.
REAPER_GRACE_SECONDS = 5.0


def _ensure_reaper(run_id: str) -> None:
    with _REAPERS_LOCK:
        if run_id not in _REAPERS:
            _REAPERS[run_id] = start_reaper(run_id, grace_seconds=REAPER_GRACE_SECONDS)


def _close_reaper(run_id: str) -> None:
    with _REAPERS_LOCK:
        reaper = _REAPERS.pop(run_id, None)
    if reaper is not None:
        stop_reaper(reaper)


def launch(spec: ProcessSpec, run_id: str, on_line: LineHandler, *, keep_lines: int = 50) -> RunningProcess:
    _ensure_reaper(run_id)
    env = dict(spec.env)
    env[RUN_MARKER_ENV] = run_id
    popen = subprocess.Popen(
        spec.argv,
        cwd=spec.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert popen.stdout is not None
    reader = threading.Thread(target=lambda: None, daemon=True)
    process = RunningProcess(spec=spec, popen=popen, reader=reader)
    process.reader = threading.Thread(
        target=_pump, args=(process, popen.stdout, on_line, keep_lines), daemon=True, name=f"log-{spec.host}"
    )
    process.reader.start()
    return process


REAPER_SCRIPT = Path(__file__).with_name("reaper.py")


def start_reaper(run_id: str, *, grace_seconds: float) -> subprocess.Popen[bytes]:
    """The run's reaper; `stop_reaper` ends it. Started before the first launch, so that no
    launched process can outlive dtrain, however dtrain ends."""
    env = {k: v for k, v in os.environ.items() if k != RUN_MARKER_ENV}
    return subprocess.Popen(
        [sys.executable, "-S", str(REAPER_SCRIPT), RUN_MARKER_ENV, run_id, str(grace_seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        # Its own session: the terminal's hang-up and Ctrl-C reach dtrain, not the reaper.
        start_new_session=True,
    )


def stop_reaper(reaper: subprocess.Popen[bytes]) -> None:
    """Close its pipe (as dtrain's exit would) and wait for its sweep to finish."""
    if reaper.stdin is not None:
        with contextlib.suppress(OSError):
            reaper.stdin.close()
    try:
        reaper.wait(timeout=30)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()


def marked_pids(run_id: str, proc: Path = Path("/proc")) -> list[int]:
    """Processes whose environment carries this run's marker (other than ourselves)."""
    needle = f"{RUN_MARKER_ENV}={run_id}".encode()
    found: list[int] = []
    me = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_all(processes: Sequence[RunningProcess], run_id: str, *, grace_seconds: float) -> None:
    """SIGTERM to every process of the run (SageMaker's StopTrainingJob sends SIGTERM too), then
    SIGKILL to whatever is left after the grace period, found by the run marker."""
    # mpirun gives every rank a process group of its own and, told to stop, signals them in steps
    # odls_base_sigkill_timeout apart (SIGCONT, wait, SIGTERM, wait, SIGKILL: Open MPI 4.1's
    # odls_base_default_fns.c), forwarding no output while it waits: with the image's 30 s the ranks
    # would get SIGTERM only after the grace period. So mpirun is spared and every other process of
    # the run gets SIGTERM now; mpirun exits, output forwarded, once its ranks have.
    spared = {p.pid for p in processes if p.spec.name == "mpirun"}
    for process in processes:
        if process.poll() is None and process.pid not in spared:
            _signal_group(process.pid, signal.SIGTERM)
    for pid in marked_pids(run_id):
        if pid not in spared:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if all(p.poll() is not None for p in processes) and not marked_pids(run_id):
            break
        time.sleep(0.1)
    for process in processes:
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGKILL)
    kill_marked(run_id)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=5)
        process.reader.join(timeout=5)
    _close_reaper(run_id)


def kill_marked(run_id: str) -> None:
    for _ in range(3):
        pids = marked_pids(run_id)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def environ_without(environ: Mapping[str, str], *prefixes: str) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith(prefixes)}
