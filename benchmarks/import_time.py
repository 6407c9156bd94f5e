"""Cold import time of what the submit Lambda loads, median of N fresh processes.

Compares, each in a fresh interpreter (so nothing is cached in the process; the OS file
cache is warm after the first run, as on a warm Lambda host):

  bare boto3     import boto3; boto3.client("sagemaker")
  dtrain core    import the spec/request/platform/naming modules + the same client
  + first build  dtrain core, then one build_training_job_request (loads the service model
                 for the strict check: paid on the first invocation, not at import)
  submit handler import lambda/submit_job/handler.py + the client (when it exists)
  sagemaker SDK  import sagemaker.pytorch (in .venv-sdk), what a Lambda using the SDK pays

Usage: .venv/bin/python benchmarks/import_time.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_TIMER = "import time; _t0 = time.perf_counter()\n"
_REPORT = "\nprint(time.perf_counter() - _t0)\n"
_CLIENT = "import boto3; boto3.client('sagemaker', region_name='us-east-1')\n"
_CORE = (
    "import dtrain.jobspec.errors, dtrain.jobspec.naming, dtrain.jobspec.platform, dtrain.jobspec.spec\n"
    "import dtrain.requests.training_request, dtrain.jobspec.metrics\n"
)
_BUILD = (
    "from dtrain.jobspec.spec import parse_spec\n"
    "from dtrain.requests.training_request import build_training_job_request\n"
    "from dtrain.jobspec.placeholder import placeholder_platform\n"
    "spec = parse_spec({'framework': 'pytorch', 'estimator': {'entry_point': 'train_ddp.py',"
    " 'image_uri': 'ddp', 'instance_type': 'ml.g5.xlarge', 'instance_count': 2,"
    " 'distribution': {'torch_distributed': {'enabled': True}}}, 'inputs': {'train': 's3://my-data/train'}})\n"
    "build_training_job_request(spec, placeholder_platform())\n"
)
_HANDLER = (
    "import importlib.util, sys; sys.path.insert(0, 'lambda')\n"
    "spec = importlib.util.spec_from_file_location('handler', 'lambda/submit_job/handler.py')\n"
    "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
)


def measure_once(python: str, body: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [python, "-c", _TIMER + body + _REPORT], capture_output=True, text=True, check=True, cwd=REPO, env=env
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO)})
    env["DTRAIN_PLATFORM"] = json.dumps(
        {
            "region": "us-east-1",
            "role_arn": "arn:aws:iam::123456789012:role/r",
            "output_s3_uri": "s3://a-bucket/jobs",
            "checkpoint_s3_uri": "s3://a-bucket/ckpt",
        }
    )
    py = sys.executable
    rows: list[tuple[str, str, str]] = [
        ("bare boto3 client", py, _CLIENT),
        ("dtrain core + client", py, _CORE + _CLIENT),
        ("dtrain core + client + first build", py, _CORE + _CLIENT + _BUILD),
    ]
    if (REPO / "lambda/submit_job/handler.py").exists():
        rows.append(("submit handler module + client", py, _HANDLER + _CLIENT))
    sdk_python = REPO / ".venv-sdk/bin/python"
    if sdk_python.exists():
        sdk_env = dict(env)
        sdk_env.pop("PYTHONPATH")
        rows.append(("import sagemaker.pytorch (.venv-sdk)", str(sdk_python), "import sagemaker.pytorch\n"))
    # Round-robin, so that a load spike on this shared machine hits every row alike.
    times: dict[str, list[float]] = {label: [] for label, _, _ in rows}
    for _ in range(args.runs):
        for label, python, body in rows:
            run_env = sdk_env if "sagemaker.pytorch" in body else env
            times[label].append(measure_once(python, body, run_env))
    results = {label: statistics.median(values) for label, values in times.items()}
    base = results["bare boto3 client"]
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in results.items()}))
        return 0
    print(f"median of {args.runs} fresh processes ({sys.version.split()[0]})")
    for label, value in results.items():
        print(f"  {label:40s} {value * 1000:8.1f} ms   {value / base:5.2f}x bare boto3")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
