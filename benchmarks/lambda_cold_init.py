"""Cold init of each orchestration Lambda with Powertools, against a bare boto3 client.

Each function's asset is built as a synth builds it (stacks/orchestration/lambda_bundling.py:
the vendored wheels + lambda/<fn>/ + dtrain/), then timed in fresh interpreters of the Lambda
runtime's Python (.venv-lambda, python3.13) that see only the standard library and the asset
(`-S`, cwd = the asset, as /var/task), with the .pyc files the asset ships (the vendored wheels'
when a python3.13 built the tree, lambda_bundling.lambda_interpreter; dtrain/ and the handler are
sources, and /var/task is read-only: Lambda compiles them at each cold start; --pyc compiles
them too) and with the environment the stack
gives the functions, LAMBDA_TASK_ROOT included (Powertools' Tracer and the X-Ray SDK behave as in
Lambda: tracing on, botocore patched, the local sampler). The vendored distributions are the
installed ones without extension modules (wrapt runs its pure-Python wrappers, as in the assets).

Rows, each the median of N processes' wall and CPU time (the CPU time is the one to compare on a
loaded machine), run round-robin so load spikes hit every row alike:
  bare boto3 client          import boto3; boto3.client("sagemaker")
  + Logger + Metrics         the same + Powertools' Logger and EMF metrics made
  + Tracer                   the same + Tracer (imports the X-Ray SDK, patches botocore)
  <fn> handler               import lambda/<fn>/handler.py (its Instruments) + the same client
  <fn> handler, trace off    the same with POWERTOOLS_TRACE_DISABLED=true (the X-Ray SDK still loads)
  <fn> handler @ REF         --baseline REF: lambda/ and dtrain/ of a git ref (e.g. one before
                             Powertools) in the same vendored tree

--pyc compiles the rest of each asset (dtrain/, the handler) with the Lambda Python first: the
cold start with no compile step at all.

--breakdown adds, per handler, where its import time goes: `-X importtime` self times summed by
top-level package (median of the runs), Powertools and the X-Ray SDK apart from boto3 and dtrain.

Usage: .venv/bin/python benchmarks/lambda_cold_init.py [--runs 10] [--baseline REF] [--pyc] [--breakdown]
                                                       [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dtrain.constructs.orchestration import lambda_bundling  # noqa: E402
from dtrain.constructs.orchestration.lambda_environment import metrics_namespace, observability_environment  # noqa: E402

LAMBDA_PYTHON = REPO / ".venv-lambda" / "bin" / "python"
FUNCTIONS = sorted(p.parent.name for p in lambda_bundling.LAMBDA_ROOT.glob("*/handler.py"))

_TIMER = "import sys, time; sys.path.insert(0, '.'); _t0, _c0 = time.perf_counter(), time.process_time()\n"
_REPORT = "\nprint(time.perf_counter() - _t0, time.process_time() - _c0)\n"
_CLIENT = "import boto3; boto3.client('sagemaker')\n"
_POWERTOOLS = (
    "from aws_lambda_powertools import Logger, Metrics\n"
    "Logger(service='x'); Metrics(service='x', namespace='x')\n"
)
_TRACER = "from aws_lambda_powertools import Tracer; Tracer(service='x', patch_modules=['botocore'])\n"
_HANDLER = "import handler\n"


def build_assets(root: Path, source: Path | None = None) -> dict[str, Path]:
    """One asset per function, as CopyBundler lays it out; `source` holds another lambda/ + dtrain/."""
    if source is not None:
        lambda_bundling.DTRAIN_ROOT = source / "dtrain"
    assets = {}
    try:
        for fn in FUNCTIONS:
            out = root / fn
            out.mkdir(parents=True)
            function_dir = (source or REPO) / "lambda" / fn
            lambda_bundling.CopyBundler(function_dir).try_bundle(str(out))
            assets[fn] = out
    finally:
        lambda_bundling.DTRAIN_ROOT = REPO / "dtrain"
    return assets


def tree_at(ref: str, into: Path) -> Path:
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", ref, "lambda", "dtrain"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def function_environment(asset: Path, fn: str, *, tracing: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))}
    env.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(asset),
            "AWS_LAMBDA_FUNCTION_NAME": fn,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            # Lambda puts the role's credentials in the environment: no credential-chain lookups.
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_SESSION_TOKEN": "token",
            "LEDGER_TABLE": "ledger",
            "DTRAIN_PLATFORM": json.dumps(
                {
                    "region": "us-east-1",
                    "role_arn": "arn:aws:iam::123456789012:role/r",
                    "output_s3_uri": "s3://a-bucket/jobs",
                    "checkpoint_s3_uri": "s3://a-bucket/ckpt",
                }
            ),
            **observability_environment(
                namespace=metrics_namespace("DtrainOrchestration"), tracing_active=tracing
            ),
        }
    )
    return env


def compile_asset(asset: Path) -> None:
    # Into the asset's own __pycache__ folders, not a PYTHONPYCACHEPREFIX of the caller's (make's).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    subprocess.run(
        [str(LAMBDA_PYTHON), "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(asset)],
        check=True,
        env=env,
    )


def measure_once(asset: Path, body: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds; the CPU time barely moves with the load of a shared machine."""
    out = subprocess.run(
        [str(LAMBDA_PYTHON), "-S", "-c", _TIMER + body + _REPORT],
        capture_output=True,
        text=True,
        cwd=asset,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{asset.name}: {body.strip()!r} failed: {out.stderr.strip().splitlines()[-1:]}")
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def import_breakdown(asset: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds of `import handler` + the client, self time summed per top-level package."""
    out = subprocess.run(
        [str(LAMBDA_PYTHON), "-S", "-X", "importtime", "-c", _TIMER + _HANDLER + _CLIENT + _REPORT],
        capture_output=True,
        text=True,
        cwd=asset,
        env=env,
        check=True,
    )
    local = {p.name.removesuffix(".py") for p in asset.iterdir()}
    totals: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        top = name.strip().split(".")[0]
        group = top if top in local else "(standard library)"
        totals[group] = totals.get(group, 0.0) + int(self_us) / 1e6
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", metavar="REF", help="also time the handlers of this git ref")
    parser.add_argument("--json", action="store_true", help="print the medians (s) as JSON")
    parser.add_argument("--pyc", action="store_true", help="time the assets with compiled .pyc files")
    parser.add_argument("--breakdown", action="store_true", help="import time per package, per handler")
    args = parser.parse_args()
    if not LAMBDA_PYTHON.exists():
        raise SystemExit(f"{LAMBDA_PYTHON} is missing: run `make .venv-lambda/.stamp` first")
    with tempfile.TemporaryDirectory(prefix="lambda-cold-init-") as tmp:
        assets = build_assets(Path(tmp) / "now")
        rows: list[tuple[str, Path, str, dict[str, str]]] = []
        first = assets[FUNCTIONS[0]]
        env = function_environment(first, FUNCTIONS[0])
        rows += [
            ("bare boto3 client", first, _CLIENT, env),
            ("+ Logger + Metrics", first, _CLIENT + _POWERTOOLS, env),
            ("+ Logger + Metrics + Tracer", first, _CLIENT + _POWERTOOLS + _TRACER, env),
        ]
        for fn, asset in assets.items():
            rows.append((f"{fn} handler", asset, _HANDLER + _CLIENT, function_environment(asset, fn)))
        submit = assets["submit_job"]
        rows.append(
            (
                "submit_job handler, trace off",
                submit,
                _HANDLER + _CLIENT,
                function_environment(submit, "submit_job", tracing=False),
            )
        )
        if args.baseline:
            old = build_assets(Path(tmp) / "baseline", tree_at(args.baseline, Path(tmp)))
            for fn, asset in old.items():
                label = f"{fn} handler @ {args.baseline}"
                rows.append((label, asset, _HANDLER + _CLIENT, function_environment(asset, fn)))
        if args.pyc:
            for asset in {asset for _, asset, _, _ in rows}:
                compile_asset(asset)
        times: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in rows}
        parts: dict[str, dict[str, list[float]]] = {fn: {} for fn in assets} if args.breakdown else {}
        for _ in range(args.runs):
            for label, asset, body, run_env in rows:
                times[label].append(measure_once(asset, body, run_env))
            for fn in parts:
                for group, seconds in import_breakdown(
                    assets[fn], function_environment(assets[fn], fn)
                ).items():
                    parts[fn].setdefault(group, []).append(seconds)
        shutil.rmtree(tmp, ignore_errors=True)
    walls = {label: statistics.median(w for w, _ in values) for label, values in times.items()}
    cpus = {label: statistics.median(c for _, c in values) for label, values in times.items()}
    if args.json:
        print(json.dumps({k: {"wall_s": round(walls[k], 4), "cpu_s": round(cpus[k], 4)} for k in walls}))
        return 0
    load = os.getloadavg()[0]
    print(
        f"median of {args.runs} fresh processes, python{lambda_bundling.LAMBDA_PYTHON} -S in the asset,"
        f" {'all' if args.pyc else 'vendored'} .pyc, LAMBDA_TASK_ROOT set;"
        f" load average {load:.1f}, {os.cpu_count()} CPUs"
    )
    print(f"  {'':44s} {'wall':>9s} {'':6s} {'CPU':>9s}")
    for label in walls:
        wall, cpu = walls[label], cpus[label]
        wall_x, cpu_x = wall / walls["bare boto3 client"], cpu / cpus["bare boto3 client"]
        print(f"  {label:44s} {wall * 1000:7.0f} ms {wall_x:4.2f}x {cpu * 1000:7.0f} ms {cpu_x:4.2f}x")
    for fn, groups in parts.items():
        medians = sorted(((statistics.median(v), g) for g, v in groups.items()), reverse=True)
        print(f"  {fn}: import self time by package (-X importtime, median)")
        print("    " + ", ".join(f"{g} {t * 1000:.0f} ms" for t, g in medians if t >= 0.001))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
