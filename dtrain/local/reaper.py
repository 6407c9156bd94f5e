"""A run's reaper: a tiny process that ends the run's processes when dtrain itself ends.

The launchers run in sessions of their own (so that one signal reaches what they fork), which
also means that nothing reaches them when dtrain dies: closing the terminal (SIGHUP), `kill -9`,
or a crash would leave training running forever. So each run starts this script (standard
library only, run by path, no dtrain import) with a pipe on its stdin that only dtrain holds.
Whatever way dtrain ends, the kernel closes that pipe; the reaper reads EOF and stops every
process carrying the run's marker variable: SIGTERM (what SageMaker sends), a grace period,
then SIGKILL. A run that ended normally has no marked process left, and the reaper just exits.
When dtrain itself is gone (the reaper was handed to another parent), it also removes the run's
temporary folder, named by DTRAIN_LOCAL_SCRATCH (dtrain/local/run_tmpdir.py), which dtrain would
have removed on any exit it lived through. Last, it deletes the run's network namespaces (named
`dtrain-<first 12 characters of the run id>-*`, dtrain/local/host_network.py's
job_namespace_prefix): the hosts' namespaces and the one holding their bridge. Their processes
(sshd, the ranks) are gone by then: each host is a PID namespace whose init the sweep killed.

    python reaper.py MARKER_ENV RUN_ID GRACE_SECONDS
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def marked_pids(needle: bytes) -> list[int]:
    found: list[int] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def _sweep_now(signum: int, frame: object) -> None:
    raise SystemExit(0)


def sweep(needle: bytes, grace_seconds: float) -> None:
    pids = marked_pids(needle)
    if not pids:
        return
    signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and marked_pids(needle):
        time.sleep(0.1)
    for _ in range(20):
        pids = marked_pids(needle)
        if not pids:
            return
        signal_all(pids, signal.SIGKILL)
        time.sleep(0.1)


# dtrain/local/run_tmpdir.py's names (this script imports nothing of dtrain's)
SCRATCH_ENV = "DTRAIN_LOCAL_SCRATCH"
SCRATCH_PREFIX = "dtrain-local-"


def remove_orphaned_scratch(parent: int) -> None:
    """The run's temporary folder, if dtrain (`parent`) died without removing it."""
    scratch = os.environ.get(SCRATCH_ENV)
    if not scratch or os.getppid() == parent or not Path(scratch).name.startswith(SCRATCH_PREFIX):
        return
    shutil.rmtree(scratch, ignore_errors=True)


# dtrain/local/host_network.py's names
NETNS_DIR = Path("/run/netns")


def job_namespace_prefix(run_id: str) -> str:
    return f"dtrain-{run_id[:12]}"


def remove_namespaces(run_id: str) -> None:
    """The run's network namespaces, if dtrain did not delete them (it died first)."""
    prefix = job_namespace_prefix(run_id) + "-"
    if not NETNS_DIR.is_dir():
        return
    for entry in NETNS_DIR.iterdir():
        if entry.name.startswith(prefix):
            subprocess.run(["ip", "netns", "delete", entry.name], capture_output=True, check=False)


def main(argv: list[str]) -> int:
    marker_env, run_id, grace = argv[1], argv[2], float(argv[3])
    parent = os.getppid()
    # A terminal's hang-up or Ctrl-C is meant for dtrain; the reaper acts on dtrain's end
    # (EOF on stdin), or at once when told to stop (SIGTERM).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _sweep_now)
    needle = f"{marker_env}={run_id}".encode()
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except SystemExit:
        pass
    finally:
        sweep(needle, grace)
        remove_orphaned_scratch(parent)
        remove_namespaces(run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
