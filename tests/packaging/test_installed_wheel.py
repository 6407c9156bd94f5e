"""dtrain as a platform team gets it: a wheel built from this checkout, installed into a fresh
virtualenv, used from a directory outside the checkout with no PYTHONPATH.

The install is offline and honest about dependencies: `pip install --no-index` of the wheel with
its `cdk` and `emulator` extras, where the only distributions pip can see besides the wheel are
the test virtualenv's (linked in through a .pth file, without this checkout's editable dtrain), so
a dependency pyproject.toml forgot fails the install. Node tools are not Python packages: the
emulator's IAM simulator comes from this checkout's node_modules through DTRAIN_NODE_MODULES, as
a team's `npm install` would provide it; the python3.13 that compiles the Lambda assets is this
checkout's .venv-lambda, on PATH as a team's would be.

Slow (1.5 to 6 minutes on 2 cores, by their load) because it runs the real things a team runs,
each once: a wheel build, `cdk synth` of examples/platform_app (jsii start, five stacks, the Lambda
assets: the install's own synthesis of dtrain's constructs), `dtrain emulate up` (the project's
own platform for the emulator, deployed), `status` and `down`, and `dtrain demo` (deploy, train on
two simulated hosts, serve, predict: one to two minutes more; the suite's only whole demo run, held
to tests/demo_checks.py's assertions through the report it saves). `up` and the demo take the platform's
synthesis from the synth cache the suite shares: the install's inputs are the checkout's, file for
file (the test holds the cache keys equal), so the suite's synthesis of this checkout is the
install's, and whichever of them comes first makes it once (a cold one is 15-25 CPU-s). The
example's own assertion tests run in the suite from the checkout (examples/platform_app/tests);
benchmarks/installed_wheel.py runs them from the install too, with each step's time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from dtrain.demo.emulated import DEMO_WORKDIR, REPORT_FILE, DemoReport
from dtrain.emulator import synth_cache
from dtrain.emulator.platform_app import EMULATOR_CONTEXT
from dtrain.emulator.server_state import STATE_DIR_ENV
from dtrain.ports import free_port
from tests.demo_checks import check_demo_run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_APP = ROOT / "examples" / "platform_app"
# What the installed package must carry besides its modules (dtrain.package_data, dtrain.constructs).
CARRIED = (
    "dtrain/constructs/platform.py",
    "dtrain/constructs/orchestration/workflow.py",
    "dtrain/bundled/cdk.json",
    "dtrain/bundled/requirements-lambda.txt",
    "dtrain/bundled/lambda/submit_job/handler.py",
    "dtrain/bundled/training_code/ddp/Dockerfile",
    "dtrain/bundled/training_code/container/entrypoint.sh",
    "dtrain/bundled/examples/ddp_torchrun.json",
    "dtrain/emulator/authz/worker.js",
)


def _completed(
    cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} -> {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    return _completed(cmd, cwd=cwd, env=env, timeout=timeout).stdout


def _source_copy(target: Path) -> Path:
    """The checkout's files (tracked and new, not ignored), links kept: the build writes its
    build/ and egg-info there, not into the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet committed
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            dest.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, dest)
    return target


def _offline_venv(venv: Path, deps: Path) -> Path:
    """A fresh virtualenv that sees the test environment's distributions except dtrain."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(sysconfig.get_paths()["purelib"])
    deps.mkdir()
    for entry in site.iterdir():
        if entry.name.startswith(("dtrain", "__editable__", "_dtrain")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    python = venv / "bin" / "python"
    venv_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(venv_site, "test_environment_packages.pth").write_text(f"{deps}\n")
    # The console scripts pip writes for those distributions (torchrun for torch_distributed jobs,
    # gunicorn, ...), as an install of them into this virtualenv would have them on its PATH.
    subprocess.run([str(python), "-c", _CONSOLE_SCRIPTS], check=True, timeout=120)
    return python


_CONSOLE_SCRIPTS = """
import importlib.metadata, pathlib, sys
bin_dir = pathlib.Path(sys.executable).parent
for dist in importlib.metadata.distributions():
    for ep in dist.entry_points:
        script = bin_dir / ep.name
        if ep.group != "console_scripts" or script.exists() or ":" not in ep.value:
            continue
        module, _, attr = ep.value.partition(":")
        call = attr.strip().split(" ")[0]
        script.write_text(
            f"#!{sys.executable}\\nimport sys\\nfrom {module.strip()} import {call.split('.')[0]}\\n"
            f"sys.exit({call}())\\n"
        )
        script.chmod(0o755)
"""

# What a synth of the platform for the emulator reads (synth_for_emulator's key), as JSON.
_PLATFORM_INPUTS = """
import json
from dtrain.demo.emulated import DEMO_WORKDIR, REPORT_FILE, DemoReport
from dtrain.emulator import synth_cache
from dtrain.emulator.platform_app import EMULATOR_CONTEXT
print(json.dumps(synth_cache.synth_inputs("emulator-platform", {"context": EMULATOR_CONTEXT}), default=str))
"""


@pytest.mark.slow
def test_an_installed_wheel_runs_the_cli_the_example_app_the_emulator_and_the_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    # The wheel, built from a copy of the checkout.
    source = _source_copy(tmp_path / "source")
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."], cwd=source, env=env)
    (wheel,) = wheels.glob("dtrain-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(CARRIED) <= names, sorted(set(CARRIED) - names)
    assert not any(n.startswith(("stacks/", "app.py", "tests/")) for n in names)
    # Every data file the package's own code reads ships (the emulator's event samples once did not:
    # an installed emulator lost every SageMaker state-change event).
    tracked = subprocess.run(
        ["git", "ls-files", "dtrain"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    links = ("dtrain/bundled/", "dtrain/constructs")  # links: their targets ship as checked above
    data_files = {n for n in tracked if not n.endswith((".py", ".md")) and not n.startswith(links)}
    assert data_files <= names, sorted(data_files - names)

    python = _offline_venv(tmp_path / "venv", tmp_path / "deps")
    _run(
        [*pip, "--python", str(python), "install", "-q", "--no-index",
         f"dtrain[cdk,emulator] @ {wheel.as_uri()}"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    bin_dir = python.parent
    tools = tmp_path / "tools"  # what a team has on PATH besides the virtualenv
    tools.mkdir()
    (tools / "python3.13").symlink_to(ROOT / ".venv-lambda" / "bin" / "python")
    env["PATH"] = f"{bin_dir}{os.pathsep}{tools}{os.pathsep}{env.get('PATH', '')}"

    # Outside the checkout, the installed package is the one imported.
    work = tmp_path / "work"
    work.mkdir()
    where = _run(
        [str(python), "-c", "import dtrain.constructs, dtrain; print(dtrain.__file__)"], cwd=work, env=env
    )
    assert Path(where.strip()).is_relative_to(tmp_path / "venv"), where
    assert "submit" in _run([str(bin_dir / "dtrain"), "--help"], cwd=work, env=env)
    # The training code comes from the package: `dtrain data` runs its prepare_cifar10.py.
    _run(
        [str(bin_dir / "dtrain"), "data", "cifar10-sample", "data", "--train", "8", "--test", "0"],
        cwd=work,
        env=env,
    )
    assert (work / "data" / "data_batch_1").is_file()

    # The team's own app, as a copy outside the checkout.
    team_app = shutil.copytree(
        EXAMPLE_APP, work / "platform_app", ignore=shutil.ignore_patterns("__pycache__")
    )
    # As `cdk synth` runs it: the CLI hands the app cdk.json's context and the output folder
    # through CDK_CONTEXT_JSON and CDK_OUTDIR.
    context = json.loads((team_app / "cdk.json").read_text())["context"]
    synth_env = {**env, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(work / "cdk.out")}
    _run([str(python), "app.py"], cwd=team_app, env=synth_env)
    manifest = json.loads((work / "cdk.out" / "manifest.json").read_text())
    # CloudFormation name -> construct path (what the CDK CLI selects by): dtrain's stacks are the
    # children of the DtrainPlatform construct "AcmeMl" (so their artifact ids are hashed ones).
    stacks = {
        a["properties"].get("stackName", name): a.get("displayName", name)
        for name, a in manifest["artifacts"].items()
        if a["type"] == "aws:cloudformation:stack"
    }
    assert stacks == {
        "AcmeNetwork": "AcmeNetwork",
        "AcmeMlNetwork": "AcmeMl/Network",
        "AcmeMlStorage": "AcmeMl/Storage",
        "AcmeMlTraining": "AcmeMl/Training",
        "AcmeMlOrchestration": "AcmeMl/Orchestration",
    }

    # dtrain emulate up / status / down from the install (the platform synthesized from the package).
    port = str(free_port())
    # The images' toolkits (local mode's entry chains) are virtualenvs `make setup` builds, not pip
    # packages: this checkout's, through DTRAIN_IMAGE_VENVS, as with node_modules.
    emu_env = {**env, STATE_DIR_ENV: str(work / "state"), "DTRAIN_NODE_MODULES": str(ROOT / "node_modules"),
               "DTRAIN_IMAGE_VENVS": str((ROOT / ".venv").resolve().parent)}  # fmt: skip
    # The platform for the emulator reads the same inputs from the install as from the checkout
    # (the package's files, through bundled/'s links there; the distributions; Python, Node.js and
    # the Lambdas' python3.13), so `up` and the demo take the synthesis the suite shares
    # (DTRAIN_SYNTH_CACHE, kept in emu_env), or make it there. A file the wheel leaves out, or
    # ships changed, shows here as the field that differs.
    installed_inputs = json.loads(_run([str(python), "-c", _PLATFORM_INPUTS], cwd=work, env=emu_env))
    checkout_inputs = json.loads(
        json.dumps(synth_cache.synth_inputs("emulator-platform", {"context": EMULATOR_CONTEXT}), default=str)
    )
    assert installed_inputs == checkout_inputs, sorted(
        key for key in checkout_inputs if installed_inputs.get(key) != checkout_inputs[key]
    )
    up = _run([str(bin_dir / "dtrain"), "emulate", "up", "--port", port], cwd=work, env=emu_env, timeout=420)
    try:
        assert up.splitlines()[-1].startswith(f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port} ")
        status = json.loads(
            _run([str(bin_dir / "dtrain"), "emulate", "status", "--port", port], cwd=work, env=emu_env)
        )
        assert status["stacks"]["DtrainOrchestration"]["StateMachineArn"].startswith("arn:aws:states:")
    finally:
        down = _run([str(bin_dir / "dtrain"), "emulate", "down", "--port", port], cwd=work, env=emu_env)
    assert "stopped emulator" in down

    # dtrain demo from the install (make demo's program): deploy, train 2 hosts, serve, predict,
    # through the emulated platform, not the local-mode fallback. The suite's one whole demo run:
    # tests/demo_checks.py holds it to everything a demo run must show, screen and report.
    done = _completed([str(bin_dir / "dtrain"), "demo"], cwd=work, env=emu_env, timeout=900)
    demo = done.stdout
    assert "Falling back to local mode" not in demo, demo[-3000:]
    assert "predictions" in demo and "accuracy" in demo, demo[-3000:]
    check_demo_run(DemoReport.load(work / DEMO_WORKDIR / REPORT_FILE), done.stdout + done.stderr)
