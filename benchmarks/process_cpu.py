"""Which programs the suite's CPU goes to: every process it starts, by what it runs.

benchmarks/suite_cpu.py charges CPU to tests; this script charges it to programs. The kernel's
process accounting (acct(2), Linux's BSD_PROCESS_ACCT: the record every process writes as it
exits, killed ones included) gives each process's user and system time, pid and parent pid.
For Python processes the command line is not in that record (only 16 characters of the thread
name), so, for the run only, a one-line `.pth` hook in each of the clone's virtualenvs appends
`pid<TAB>/proc/self/cmdline` to a log as the interpreter starts; the hooks are removed after
the run, whatever happens.

Each process is then grouped under a key that says what it ran: the interpreter's virtualenv and
its script or module (`.venv-hvd python -m sagemaker_training...`, `.venv node jsii`, `java`...),
and the report gives CPU-seconds, process count and mean per key, and the whole run's total.

Run (as root: acct(2) needs CAP_SYS_PACCT):
    .venv/bin/python benchmarks/process_cpu.py [--top 40] [--report DIR] -- COMMAND...
    e.g. -- .venv/bin/pytest -q -n 3 --dist loadgroup -p no:cacheprovider tests/local
With no command it runs the main suite as `make pytest-main` does. `--report DIR` prints the
tables of an earlier run from DIR (DIR/acct and DIR/cmdlines.log).
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOOK_NAME = "zz_dtrain_process_cpu.pth"
# struct acct_v3 (linux/acct.h): flag, version, tty, exitcode, uid, gid, pid, ppid, btime, etime,
# utime, stime, mem, io, rw, minflt, majflt, swaps (comp_t: 16-bit float), comm[16]: 64 bytes.
ACCT_V3 = struct.Struct("<BBHIIIIIIfHHHHHHHH16s")
AHZ = 100  # acct's clock ticks per second (AHZ in linux/acct.h)


def comp_t(value: int) -> int:
    """comp_t: a 13-bit mantissa and a 3-bit base-8 exponent (linux/acct.h)."""
    return (value & 0x1FFF) << (3 * ((value >> 13) & 0x7))


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    cpu: float  # user + system seconds
    etime: float  # elapsed seconds


def read_acct(path: Path) -> Iterator[Proc]:
    data = path.read_bytes()
    for offset in range(0, len(data) - ACCT_V3.size + 1, ACCT_V3.size):
        rec = ACCT_V3.unpack_from(data, offset)
        if rec[1] & 0x0F != 3:
            continue
        utime, stime = comp_t(rec[10]), comp_t(rec[11])
        comm = rec[18].split(b"\0", 1)[0].decode(errors="replace")
        yield Proc(pid=rec[6], ppid=rec[7], comm=comm, cpu=(utime + stime) / AHZ, etime=rec[9] / AHZ)


def venvs() -> list[Path]:
    return sorted(p.parent for p in ROOT.glob(".venv*/pyvenv.cfg"))


def site_packages(venv: Path) -> list[Path]:
    return sorted(venv.glob("lib/python3*/site-packages"))


HOOK_MODULE = "_dtrain_process_cpu_hook"
HOOK_SOURCE = """\
import os
try:
    with open(/proc/self/cmdline, "rb") as _cmd, open(LOG, "ab") as _log:
        _log.write(b"%d\\t" % os.getpid() + _cmd.read().replace(b"\\0", b" ") + b"\\n")
except Exception:  # a measuring hook never breaks the program it measures
    pass
"""


def install_hooks(log: Path) -> list[Path]:
    """A module and the `.pth` line (`import ...`, which `site` runs) that loads it, per venv."""
    source = HOOK_SOURCE.replace("/proc/self/cmdline", repr("/proc/self/cmdline")).replace(
        "LOG", repr(str(log))
    )
    hooks = []
    for venv in venvs():
        for site in site_packages(venv):
            (site / f"{HOOK_MODULE}.py").write_text(source)
            (site / HOOK_NAME).write_text(f"import {HOOK_MODULE}\n")
            hooks += [site / HOOK_NAME, site / f"{HOOK_MODULE}.py"]
    return hooks


def read_cmdlines(log: Path) -> dict[int, str]:
    found: dict[int, str] = {}
    if log.is_file():
        for raw in log.read_bytes().splitlines():
            pid, _, cmd = raw.partition(b"\t")
            if pid.isdigit():
                found[int(pid)] = cmd.decode(errors="replace").strip()
    return found


def key_of(proc: Proc, cmd: str | None) -> str:
    """What a process ran, short enough to group by."""
    if cmd is None:
        return proc.comm
    words = cmd.split()
    exe = words[0] if words else proc.comm
    venv = next((part for part in Path(exe).parts if part.startswith(".venv")), Path(exe).name)
    rest = words[1:]
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
        rest = rest[1:]
    if rest[:1] == ["-m"] and len(rest) > 1:
        what = "-m " + rest[1]
    elif rest[:1] == ["-c"]:
        what = "-c " + re.sub(r"\s+", " ", " ".join(rest[1:]))[:40]
    elif rest:
        what = Path(rest[0]).name if "/" in rest[0] else rest[0]
        if what in ("pytest", "py.test") and any(w.startswith("-n") or w == "-n" for w in rest):
            what = "pytest (controller)"
    else:
        what = Path(exe).name
    return f"{venv} {what} [{proc.comm}]"


def report(folder: Path, top: int) -> None:
    procs = list(read_acct(folder / "acct"))
    cmds = read_cmdlines(folder / "cmdlines.log")
    by_key: dict[str, list[float]] = collections.defaultdict(list)
    by_comm: dict[str, list[float]] = collections.defaultdict(list)
    for proc in procs:
        by_key[key_of(proc, cmds.get(proc.pid))].append(proc.cpu)
        by_comm[proc.comm].append(proc.cpu)
    total = sum(p.cpu for p in procs)
    print(f"{len(procs)} processes, {total:.0f} CPU-s (user + system) in all")
    for title, table in (("by thread name (comm)", by_comm), ("by program", by_key)):
        print(f"\n{title}: CPU-s, processes, mean CPU-s")
        for name, cpus in sorted(table.items(), key=lambda kv: -sum(kv[1]))[:top]:
            print(f"{sum(cpus):9.1f} {len(cpus):6d} {sum(cpus) / len(cpus):7.2f}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--report", type=Path, help="print the tables of an earlier run's folder")
    parser.add_argument("command", nargs="*")
    args = parser.parse_args()
    if args.report:
        report(args.report, args.top)
        return 0
    workers = os.environ.get("PYTEST_WORKERS", "3")
    command = args.command or [str(ROOT / ".venv/bin/pytest"), "-q", "-n", workers, "--dist", "loadgroup"]
    folder = Path(tempfile.mkdtemp(prefix="process-cpu-"))
    acct_file, log = folder / "acct", folder / "cmdlines.log"
    acct_file.touch()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.acct(str(acct_file).encode()) != 0:
        sys.exit(f"acct({acct_file}) failed: {os.strerror(ctypes.get_errno())} (needs root)")
    hooks = install_hooks(log)
    started = time.time()
    try:
        code = subprocess.call(command, cwd=ROOT)
    finally:
        libc.acct(None)
        for hook in hooks:
            hook.unlink(missing_ok=True)
    print(f"\nexit {code}, {time.time() - started:.0f} s wall; records in {folder}")
    report(folder, args.top)
    return code


if __name__ == "__main__":
    sys.exit(main())
