"""Where the time of `make test` and `make demo` goes, section by section.

    .venv/bin/python benchmarks/time_breakdown.py [--sections synth,deploy,demo]
        [--durations-log LOG | --durations-tests PATH ...] [--profile] [--json]

Sections (each in fresh processes, so no run reuses another's warm jsii runtime or imports):

- setup      `make <target>` for each prerequisite of the Makefile's `setup`, one after another,
             in a fresh `git clone` of HEAD (minutes: every virtualenv is created from the package
             caches the machine has); then `make -j4 setup` again there, which must be a no-op
- durations  the main suite's slowest tests: parsed from a pytest log (--durations-log, e.g. the
             `make test` output or benchmarks/suite_time.py --keep's suite.log), or measured
             here by running the given test files with --durations (--durations-tests, one
             process, -n 0)
- synth      the platform for the emulator (dtrain.emulator.platform_app.synth_for_emulator, what
             `make demo` and `dtrain emulate up` run): cold (empty synth cache and an empty Lambda
             vendoring cache, as on a brand-new machine), uncached (empty synth cache, warm Lambda
             vendoring cache) and cached (dtrain.emulator.synth_cache hit); and `npx cdk synth`
             of app.py (the CDK CLI: no synth cache)
- deploy     the emulator's deploy of that assembly (Emulator.__enter__) and its tear-down
             (--profile: the deploy's top functions by cumulative time, from cProfile)
- demo       `make demo`'s program by phase (benchmarks/demo_phases.py --runs 1): a cached synth
             when this checkout's synth cache holds the tree

Every line carries wall and CPU seconds (user + sys of the processes waited for); on the shared
2-core machine the wall time follows the neighbours' load, so the load average is printed before
and after each section. --json prints one JSON object at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SECTIONS = ("setup", "durations", "synth", "deploy", "demo")
DEFAULT_SECTIONS = ("synth", "deploy", "demo")

SYNTH_CODE = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from dtrain.emulator.platform_app import synth_for_emulator
synth_for_emulator(Path(sys.argv[1]), cache=Path(sys.argv[2]))
print(json.dumps({"in_process_s": time.perf_counter() - started, "cdk_loaded": "aws_cdk" in sys.modules}))
"""

DEPLOY_CODE = """
import cProfile, io, json, pstats, sys, time, warnings, logging
from pathlib import Path
warnings.filterwarnings("ignore")
logging.getLogger("moto").setLevel(logging.ERROR)
from dtrain.emulator.core import Emulator
profile = cProfile.Profile() if sys.argv[2] == "profile" else None
emu = Emulator(Path(sys.argv[1]), announce=False)
started = time.perf_counter()
if profile is not None:
    profile.enable()
emu.__enter__()
if profile is not None:
    profile.disable()
deployed = time.perf_counter()
emu.__exit__(None, None, None)
ended = time.perf_counter()
top = ""
if profile is not None:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(45)
    top = out.getvalue()
print(json.dumps({"deploy_s": deployed - started, "tear_down_s": ended - deployed, "profile": top}))
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout[-2000:] + done.stderr[-3000:]


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.setdefault("PYTHONPATH", str(ROOT))
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    env.update(extra)
    return env


def timed(cmd: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of `cmd`; raises with its output's tail when it fails."""
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - wall0, _children_cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{_tail(done)}")
    return wall, cpu, done.stdout


def row(label: str, wall: float, cpu: float | None = None, note: str = "") -> dict[str, Any]:
    cpu_text = f"{cpu:7.1f} s CPU" if cpu is not None else " " * 13
    print(f"  {label:<44} {wall:7.1f} s wall {cpu_text}  {note}".rstrip(), flush=True)
    return {"label": label, "wall_s": round(wall, 2), "cpu_s": None if cpu is None else round(cpu, 2)}


# -- sections ------------------------------------------------------------------------------------
def setup_targets(makefile: Path) -> list[str]:
    """The prerequisites of the Makefile's `setup` target, in order, its `$(VAR)`s expanded."""
    lines = makefile.read_text().splitlines()
    # Simple `NAME := value` / `NAME ?= value` definitions (e.g. VENV := .venv) name the targets.
    variables = dict(re.findall(r"^([A-Z_]+)\s*[:?]?=\s*(\S+)\s*$", "\n".join(lines), re.MULTILINE))
    for line in lines:
        if line.startswith("setup:"):
            names = line.split(":", 1)[1].split()
            return [re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), n) for n in names]
    raise RuntimeError(f"{makefile} has no setup: target")


def section_setup(args: argparse.Namespace) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="dtrain-setup-time-"))
    clone = work / "dtrain"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    rows = []
    try:
        for target in setup_targets(clone / "Makefile"):
            wall, cpu, _ = timed(["make", "--no-print-directory", target], cwd=clone, env=env)
            rows.append(row(f"make {target}", wall, cpu))
        wall, cpu, _ = timed(["make", "--no-print-directory", "-j4", "setup"], cwd=clone, env=env)
        rows.append(row("make -j4 setup again (no-op)", wall, cpu))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


DURATION = re.compile(r"^\s*([0-9.]+)s (setup|call|teardown)\s+(\S+)")


def parse_durations(text: str, count: int = 20) -> list[tuple[float, str, str]]:
    """pytest's `slowest N durations` lines: (seconds, phase, test id), slowest first."""
    found = [(float(m[1]), m[2], m[3]) for line in text.splitlines() if (m := DURATION.match(line))]
    return sorted(found, reverse=True)[:count]


def section_durations(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.durations_log:
        text = Path(args.durations_log).read_text(errors="replace")
        source = args.durations_log
    elif args.durations_tests:
        cmd = [PYTHON, "-m", "pytest", "-q", "-n", "0", "-p", "no:randomly", "--durations=30"]
        cmd += args.durations_tests
        done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)
        text, source = done.stdout, " ".join(args.durations_tests)
    else:
        print("  (no --durations-log or --durations-tests given)")
        return []
    rows = []
    print(f"  from {source}:")
    for seconds, phase, test in parse_durations(text, args.top):
        rows.append(row(f"{phase:<8} {test}", seconds))
    return rows


def section_synth(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    work = Path(tempfile.mkdtemp(prefix="dtrain-synth-time-"))
    try:
        cache = work / "synth-cache"

        def synth(label: str, name: str, **env: str) -> None:
            wall, cpu, out = timed([PYTHON, "-c", SYNTH_CODE, str(work / name), str(cache)], env=_env(**env))
            figures = json.loads(out.strip().splitlines()[-1])
            note = "CDK loaded" if figures["cdk_loaded"] else "CDK not loaded"
            rows.append(row(label, wall, cpu, note))

        # Cold: no synth cache entry and no Lambda vendoring cache (lambda_bundling.cache_root).
        synth("synth_for_emulator, cold", "cold", DTRAIN_CACHE_DIR=str(work / "lambda-cache"))
        shutil.rmtree(cache)
        synth("synth_for_emulator, uncached", "uncached")
        synth("synth_for_emulator, cached (synth cache hit)", "cached")
        out = work / "cli.out"
        wall, cpu, _ = timed(["npx", "--no-install", "cdk", "synth", "--quiet", "--output", str(out)])
        rows.append(row("npx cdk synth (app.py, CLI, no synth cache)", wall, cpu))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def section_deploy(args: argparse.Namespace) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="dtrain-deploy-time-"))
    try:
        assembly = work / "cdk.out"
        # From this checkout's synth cache (the tests' and make demo's) when it holds the tree.
        timed([PYTHON, "-c", SYNTH_CODE, str(assembly), str(ROOT / ".dtrain" / "synth-cache")])
        mode = "profile" if args.profile else "plain"
        wall, cpu, out = timed([PYTHON, "-c", DEPLOY_CODE, str(assembly), mode])
        figures = json.loads(out.strip().splitlines()[-1])
        rows = [
            row("emulated deploy (Emulator.__enter__)", figures["deploy_s"]),
            row("emulator tear-down (Emulator.__exit__)", figures["tear_down_s"]),
            row("whole process (imports, deploy, tear-down)", wall, cpu),
        ]
        if figures["profile"]:
            print(figures["profile"])
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def section_demo(args: argparse.Namespace) -> list[dict[str, Any]]:
    wall, cpu, out = timed([PYTHON, str(ROOT / "benchmarks" / "demo_phases.py"), "--runs", "1", "--json"])
    figures = json.loads(out.strip().splitlines()[-1])[0]
    rows = [row(name, seconds) for name, seconds in figures["phases"].items()]
    rows.append(row("whole demo (in process)", figures["whole"]))
    rows.append(row("process incl. interpreter start", figures["process"]))
    rows.append(row("benchmark incl. its own start", wall, cpu, "CPU: every process of the demo"))
    return rows


RUNNERS = {
    "setup": section_setup,
    "durations": section_durations,
    "synth": section_synth,
    "deploy": section_deploy,
    "demo": section_demo,
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", default=",".join(DEFAULT_SECTIONS), help=f"of {', '.join(SECTIONS)}")
    parser.add_argument("--durations-log", help="a pytest log with a `slowest N durations` table")
    parser.add_argument("--durations-tests", nargs="+", help="test files to run with --durations")
    parser.add_argument("--top", type=int, default=20, help="how many of the slowest tests (20)")
    parser.add_argument("--profile", action="store_true", help="cProfile the emulated deploy")
    parser.add_argument("--json", action="store_true", help="one JSON object at the end")
    args = parser.parse_args()
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    results: dict[str, Any] = {"cpus": os.cpu_count()}
    for section in sections:
        before = _load()
        print(f"== {section} (load {before})", flush=True)
        rows = RUNNERS[section](args)
        results[section] = {"rows": rows, "load_before": before, "load_after": _load()}
        print(f"   load after: {_load()}", flush=True)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
