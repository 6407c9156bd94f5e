"""The installed wheel, step by step: what the wheel holds, and how long a platform team's first
steps take from a clean install (fresh virtualenv, outside the checkout, no PYTHONPATH).

Runs the same steps as tests/packaging/test_installed_wheel.py, with that file's helpers, and
prints one line per step with its wall time, then the wheel's contents by top folder:

  build wheel        pip wheel of a copy of the checkout
  fresh venv         python -m venv plus the links to the test environment's distributions
  install            pip install --no-index of dtrain[cdk,emulator] into it
  dtrain --help      the CLI's start
  example synth      examples/platform_app/app.py as `cdk synth` runs it (cdk.json's context)
  example tests      that app's own assertion tests (pytest tests)
  emulate up/status/down

  .venv/bin/python benchmarks/installed_wheel.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

from dtrain.ports import free_port

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "installed_wheel_test", REPO / "tests/packaging/test_installed_wheel.py"
)
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def contents(wheel: Path) -> list[str]:
    groups: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for info in zipfile.ZipFile(wheel).infolist():
        parts = info.filename.split("/")
        if parts[0] != "dtrain":
            key = parts[0]  # the dist-info
        elif parts[1] == "constructs":
            key = "dtrain/constructs"
        elif parts[1] == "bundled":
            key = "/".join(parts[:3])
        else:
            key = "dtrain (modules)"
        groups[key] += 1
        sizes[key] += info.file_size
    return [f"  {n:>4} files {sizes[k] / 1e6:6.2f} MB  {k}" for k, n in sorted(groups.items())]


def main() -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)

        def step(name: str, *args: object, **kwargs: object) -> str:
            started = time.perf_counter()
            out = helpers._run(*args, **kwargs)
            times[name] = time.perf_counter() - started
            return str(out)

        source = helpers._source_copy(tmp / "source")
        wheels = tmp / "wheels"
        step("build wheel", [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                             "-w", str(wheels), "."], cwd=source, env=env)  # fmt: skip
        (wheel,) = wheels.glob("dtrain-*.whl")
        started = time.perf_counter()
        python = helpers._offline_venv(tmp / "venv", tmp / "deps")
        times["fresh venv"] = time.perf_counter() - started
        step("install", [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                         f"dtrain[cdk,emulator] @ {wheel.as_uri()}"], cwd=tmp, env=env)  # fmt: skip
        bin_dir = python.parent
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        work = tmp / "work"
        work.mkdir()
        step("dtrain --help", [str(bin_dir / "dtrain"), "--help"], cwd=work, env=env)
        team_app = shutil.copytree(helpers.EXAMPLE_APP, work / "platform_app")
        context = json.loads((team_app / "cdk.json").read_text())["context"]
        synth_env = {**env, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(work / "cdk.out")}
        step("example synth", [str(python), "app.py"], cwd=team_app, env=synth_env)
        step("example tests", [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
             cwd=team_app, env=env)  # fmt: skip
        port = str(free_port())
        emu_env = {**env, helpers.STATE_DIR_ENV: str(work / "state"),
                   "DTRAIN_NODE_MODULES": str(REPO / "node_modules")}  # fmt: skip
        dtrain = str(bin_dir / "dtrain")
        step("emulate up", [dtrain, "emulate", "up", "--port", port], cwd=work, env=emu_env, timeout=420)
        try:
            step("emulate status", [dtrain, "emulate", "status", "--port", port], cwd=work, env=emu_env)
        finally:
            step("emulate down", [dtrain, "emulate", "down", "--port", port], cwd=work, env=emu_env)
        print(f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB")
        print("\n".join(contents(wheel)))
    for name, seconds in times.items():
        print(f"{name:<16} {seconds:6.1f} s")
    print(f"{'total':<16} {sum(times.values()):6.1f} s   (load: {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
