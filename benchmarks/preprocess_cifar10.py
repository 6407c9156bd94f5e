"""preprocess_cifar10.py (the bundled processing script) on the sample data: records/s and bytes.

Makes the `dtrain data cifar10-sample` set (default 5000 train + 1000 test images), then runs the
script as a processing job's command would, once per output format set, --repeats times each,
and prints the median records per second and the output bytes per format. The TFRecords are
written without TensorFlow (its pure-Python CRC-32C) under this venv's python, and with
TensorFlow's writer under the Horovod venv's python when it exists.

    .venv/bin/python benchmarks/preprocess_cifar10.py [--train 5000] [--test 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "training_code" / "processing" / "preprocess_cifar10.py"
HVD_PYTHON = REPO / ".venv-hvd" / "bin" / "python"


def _run(python: str, raw: Path, out: Path, formats: str) -> dict[str, float]:
    proc = subprocess.run(
        [python, str(SCRIPT), "--input", str(raw), "--train-output", str(out / "train"),
         "--test-output", str(out / "test"), "--formats", formats],
        capture_output=True, text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    line = next(x for x in proc.stdout.splitlines() if x.startswith("preprocess_cifar10: "))
    summary: dict[str, float] = json.loads(line.split(": ", 1)[1])
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from dtrain.commands.data_cmd import make_cifar10_sample

    runs = [(sys.executable, "npz"), (sys.executable, "tfrecord"), (sys.executable, "npz,tfrecord")]
    if HVD_PYTHON.exists():
        runs.append((str(HVD_PYTHON), "tfrecord"))
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        make_cifar10_sample(raw, train=args.train, test=args.test)
        print(f"sample: {args.train} train + {args.test} test images; load: {os.getloadavg()[0]:.1f}")
        for python, formats in runs:
            rates, size = [], 0.0
            for i in range(args.repeats):
                got = _run(python, raw, Path(tmp) / f"out-{i}", formats)
                rates.append(got["records"] / got["seconds"])
                size = got["bytes"]
            who = "hvd venv (TensorFlow writer)" if python == str(HVD_PYTHON) else "main venv (no TensorFlow)"
            print(
                f"{formats:>13} {who:<30} {statistics.median(rates):>10.0f} records/s  {size / 1e6:8.2f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
