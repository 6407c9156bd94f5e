"""Throughput of the `model` phase's repack (dtrain.orchestration.model_repack.repack_stream):
a trained model.tar.gz of incompressible weights (the worst case for gzip) streamed into a new
archive with code/ replaced, file to file (no S3), on one core of this machine.

The Submit Lambda has 256 MB of memory, hence about 256/1769 of a vCPU (Lambda allots one vCPU
at 1,769 MB: Lambda developer guide, "Configuring Lambda function memory"); the script prints
the size it could repack in 90 s of its 120-s timeout at that share, which MAX_MODEL_BYTES must
stay under.

    PYTHONPATH=. .venv/bin/python benchmarks/model_repack.py [--mib 64]
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import tempfile
import time

from dtrain.orchestration.model_repack import MAX_MODEL_BYTES, repack_stream

LAMBDA_VCPU_SHARE = 256 / 1769
BUDGET_S = 90


def _archive(path: str, mib: int) -> None:
    with tarfile.open(path, mode="w:gz", compresslevel=1) as tar:
        data = os.urandom(mib * 2**20)
        info = tarfile.TarInfo("model.pth")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        code = b"# trainer's inference code\n"
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(code)
        tar.addfile(info, io.BytesIO(code))


def _code() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        text = b"def model_fn(d):\n    return d\n"
        info = tarfile.TarInfo("serve.py")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "model.tar.gz")
        _archive(src, args.mib)
        size = os.path.getsize(src)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with open(src, "rb") as model, tempfile.TemporaryFile(dir=tmp) as out:
            repack_stream(model, io.BytesIO(_code()), out)
            out_size = out.tell()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rate = size / 2**20 / cpu
    lambda_rate = rate * LAMBDA_VCPU_SHARE
    print(f"trained archive {size / 2**20:.0f} MiB -> repacked {out_size / 2**20:.0f} MiB")
    print(f"cpu {cpu:.2f} s, wall {wall:.2f} s: {rate:.1f} MiB/s per core")
    print(
        f"at {LAMBDA_VCPU_SHARE:.3f} vCPU (256 MB Lambda): {lambda_rate:.1f} MiB/s,"
        f" {lambda_rate * BUDGET_S:.0f} MiB in {BUDGET_S} s;"
        f" MAX_MODEL_BYTES = {MAX_MODEL_BYTES / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
