"""Size and cold import of each orchestration Lambda asset, as a synth builds it.

Each asset is built by the tree's own stacks/orchestration/lambda_bundling.py (CopyBundler, as
`cdk synth` runs it), then measured:

  files, MB         every file of the asset (sources, .pyc, botocore models), unzipped
  zip MB            the asset deflated as CDK zips it for upload (the deployment package)
  dtrain modules    the dtrain/*.py files the asset carries
  import ms         `import handler` in a fresh python3.13 -S whose only path is the asset
                    (cwd = the asset, as /var/task), median of --runs processes, wall and CPU;
                    the CPU time is the one to compare on a loaded machine

--ref REF also builds the assets of a git ref's tree (its own lambda_bundling, this script run
from `git archive REF`) and times both sets round-robin in one run, so before and after share
the machine's load:

  .venv/bin/python benchmarks/lambda_assets.py --ref 41c1613 --runs 9
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAMBDA_PYTHON = Path("/work/main/.venv-lambda/bin/python")
_IMPORT = (
    "import sys, time; sys.path.insert(0, '.'); t, c = time.perf_counter(), time.process_time()\n"
    "import handler\n"
    "print(time.perf_counter() - t, time.process_time() - c)\n"
)


def lambda_python() -> str:
    local = REPO / ".venv-lambda" / "bin" / "python"
    return str(local if local.exists() else LAMBDA_PYTHON)


def build(root: Path) -> dict[str, Path]:
    sys.path.insert(0, str(REPO))
    from dtrain.constructs.orchestration import lambda_bundling

    assets = {}
    for handler in sorted(lambda_bundling.LAMBDA_ROOT.glob("*/handler.py")):
        out = root / handler.parent.name
        out.mkdir(parents=True)
        lambda_bundling.CopyBundler(handler.parent).try_bundle(str(out))
        assets[handler.parent.name] = out
    return assets


def zipped_bytes(asset: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(asset.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(asset).as_posix())
    return buffer.tell()


def environment(asset: Path, fn: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": str(asset),
        "AWS_LAMBDA_FUNCTION_NAME": fn,
        "AWS_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "POWERTOOLS_SERVICE_NAME": fn,
    }


def import_seconds(asset: Path, fn: str) -> tuple[float, float]:
    out = subprocess.run(
        [lambda_python(), "-S", "-c", _IMPORT],
        cwd=asset,
        env=environment(asset, fn),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{fn}: import handler failed: {out.stderr.strip().splitlines()[-1:]}")
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def describe(asset: Path) -> dict[str, float]:
    files = [f for f in asset.rglob("*") if f.is_file()]
    return {
        "files": len(files),
        "mb": round(sum(f.stat().st_size for f in files) / 1e6, 2),
        "zip_mb": round(zipped_bytes(asset) / 1e6, 2),
        "dtrain_modules": len(list((asset / "dtrain").rglob("*.py"))),
    }


def measure(asset_sets: dict[str, dict[str, Path]], runs: int) -> dict[str, dict[str, dict[str, float]]]:
    """Every asset of every set, round-robin: a load spike hits them all alike."""
    times: dict[tuple[str, str], list[tuple[float, float]]] = {
        (label, fn): [] for label, assets in asset_sets.items() for fn in assets
    }
    for _ in range(runs):
        for label, fn in times:
            times[label, fn].append(import_seconds(asset_sets[label][fn], fn))
    rows: dict[str, dict[str, dict[str, float]]] = {label: {} for label in asset_sets}
    for (label, fn), samples in times.items():
        rows[label][fn] = {
            **describe(asset_sets[label][fn]),
            "import_wall_ms": round(statistics.median(w for w, _ in samples) * 1000, 1),
            "import_cpu_ms": round(statistics.median(c for _, c in samples) * 1000, 1),
        }
    return rows


def build_at_ref(ref: str, tmp: Path) -> dict[str, Path]:
    """The assets as the tree of `ref` builds them (its own lambda_bundling, run from its tree)."""
    tmp.mkdir(parents=True)
    archive = tmp / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", ref], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp / "tree", filter="data")
    tree = tmp / "tree"
    (tree / "benchmarks").mkdir(exist_ok=True)
    shutil.copy2(__file__, tree / "benchmarks" / "lambda_assets.py")
    (tree / ".venv-lambda").symlink_to(REPO / ".venv-lambda")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "benchmarks/lambda_assets.py", "--build-only", str(tmp / "assets")]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return {p.name: p for p in sorted((tmp / "assets").iterdir())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ref", help="also measure the assets the tree of this git ref builds")
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.build_only:
        build(args.build_only)
        return 0
    with tempfile.TemporaryDirectory(prefix="lambda-assets-") as tmp:
        sets = {"working tree": build(Path(tmp) / "now")}
        if args.ref:
            sets[args.ref] = build_at_ref(args.ref, Path(tmp) / "ref")
        rows = measure(sets, args.runs)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(
        f"median of {args.runs} imports each, round-robin;"
        f" load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs"
    )
    for label, fns in rows.items():
        print(f"{label}:")
        print(
            f"  {'function':12s} {'files':>6s} {'MB':>6s} {'zip MB':>7s} {'dtrain':>7s}"
            f" {'wall ms':>8s} {'CPU ms':>7s}"
        )
        for fn, row in fns.items():
            print(
                f"  {fn:12s} {row['files']:6.0f} {row['mb']:6.2f} {row['zip_mb']:7.2f}"
                f" {row['dtrain_modules']:7.0f} {row['import_wall_ms']:8.1f} {row['import_cpu_ms']:7.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
