"""Issue 13's figures: SDK 2.220 estimator arguments mapped / refused / total per framework.

The SDK's own signatures (EstimatorBase, Framework, PyTorch, TensorFlow, read in .venv-sdk)
against dtrain/jobspec/estimator_args.py's table: every SDK argument must be mapped or refused with
a reason (0 unknown). The parity configurations are counted from tests/dtrain/test_sdk_parity.py.

Usage: .venv/bin/python benchmarks/estimator_surface.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dtrain.jobspec.estimator_args import accepted, refused  # noqa: E402

_SIGNATURES = """
import inspect, json
from sagemaker.estimator import EstimatorBase, Framework
from sagemaker.pytorch import PyTorch
from sagemaker.tensorflow import TensorFlow
print(json.dumps({c.__name__: [n for n in inspect.signature(c.__init__).parameters
                               if n not in ("self", "kwargs")]
                  for c in (EstimatorBase, Framework, PyTorch, TensorFlow)}))
"""


def main() -> int:
    out = subprocess.run(
        [str(REPO / ".venv-sdk" / "bin" / "python"), "-c", _SIGNATURES],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    signatures = json.loads(out.strip().splitlines()[-1])
    for framework, own in (("pytorch", "PyTorch"), ("tensorflow", "TensorFlow")):
        sdk = set(signatures["EstimatorBase"]) | set(signatures["Framework"]) | set(signatures[own])
        mapped, refusals = set(accepted(framework)), set(refused(framework))
        unknown = sdk - mapped - refusals
        print(
            f"{own}: SDK arguments {len(sdk)}; mapped {len(mapped & sdk)}, refused {len(refusals & sdk)}, "
            f"unknown {len(unknown)}{' ' + str(sorted(unknown)) if unknown else ''}"
        )
        print(f"  refused: {', '.join(sorted(refusals))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
