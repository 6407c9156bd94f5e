"""The local endpoint's figures: `dtrain serve` cold start, requests/s and latency percentiles.

The model is the bundled CIFAR-10 network at the trainers' default width (64) as the trainers
save it (model.pt + model_config.json + code/inference.py, packed into model.tar.gz); weights
are its random initialisation (the compute per request does not depend on them), or --model
serves an archive you trained.

- cold start: `python -m dtrain serve model.tar.gz --port P` as a fresh process, to the first
  `GET /ping` 200 seen by an independent poller (unpack, the toolkit's `serve`, TorchServe's JVM;
  TorchServe answers /ping before its workers have loaded the model), and to the first answered
  /invocations (the workers loaded), medians of --cold-runs;
- throughput: a server from `start_server`, --clients closed-loop client threads in this process
  (they share the machine's cores with the server) for --seconds per scenario: one image as JSON
  nested lists, and a batch of 64 images as NumPy (application/x-npy). Each request opens a
  connection (SageMaker's front end does not rely on keep-alive either);
- peak memory: the largest sum of RSS over the server's process group (`serve`, the JVM, the
  Python workers), sampled every 0.2 s while the scenarios run.

The machine's load average is printed before and after: other work on it shifts every number.

--framework tensorflow serves the Keras trainers' network instead (keras_cifar.build_model at
--width, saved as they save it, with their code/inference.py handlers), built by TensorFlow in
.venv-hvd: the TF Serving image's Python service in front of TF Serving's REST API, --workers its
gunicorn workers.

Usage: .venv/bin/python benchmarks/serving.py [--framework pytorch] [--workers 2] [--clients 4] [--seconds 20]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "training_code")]

import numpy as np  # noqa: E402

from dtrain.ports import free_port  # noqa: E402
from dtrain.serving import start_server  # noqa: E402


def build_archive(directory: Path, width: int) -> Path:
    from common.cifar_model import CifarNet, ModelConfig, save_model
    from common.model_code import package_inference_code

    model_dir = directory / "model"
    config = ModelConfig(width=width)
    save_model(CifarNet(config), config, model_dir)
    package_inference_code(model_dir)
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return archive


KERAS_MODEL = """
import sys
from pathlib import Path
sys.path[:0] = [sys.argv[3] + "/horovod", sys.argv[3]]
import tensorflow as tf
from common.model_code import package_keras_inference_code
from keras_cifar import CIFAR_MEAN, CIFAR_STD, build_model
model_dir = Path(sys.argv[1])
build_model(width=int(sys.argv[2]), weight_decay=0.0).save(model_dir / "1", save_format="tf")
package_keras_inference_code(model_dir, CIFAR_MEAN, CIFAR_STD)
"""


def build_keras_archive(directory: Path, width: int) -> Path:
    model_dir = directory / "model"
    python = REPO / ".venv-hvd" / "bin" / "python"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run(
        [str(python), "-c", KERAS_MODEL, str(model_dir), str(width), str(REPO / "training_code")],
        check=True,
        env=env,
    )
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return archive


def cold_start(archive: Path, workers: int) -> tuple[float, float]:
    """Seconds from starting `dtrain serve` to the first /ping 200 and to the first answer."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "dtrain", "serve", str(archive), "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    image = json.dumps(np.zeros((1, 32, 32, 3), np.uint8).tolist()).encode()
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"dtrain serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=60) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.02)
        ping = time.perf_counter() - started
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=image, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=600) as reply:
            reply.read()
        return ping, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(30)


class PeakRss:
    """The largest sum of resident memory over one process group, sampled in a thread."""

    def __init__(self, pgid: int) -> None:
        self.pgid, self.peak, self._done = pgid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> int:
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != self.pgid:
                    continue
                status = (stat.parent / "status").read_text()
            except (OSError, IndexError, ValueError):
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def _run(self) -> None:
        while not self._done.wait(0.2):
            self.peak = max(self.peak, self._sample())

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


def load(url: str, body: bytes, content_type: str, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            request = urllib.request.Request(
                f"{url}/invocations", data=body, headers={"Content-Type": content_type}, method="POST"
            )
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=60) as reply:
                    reply.read()
                ok = True
            except (urllib.error.URLError, OSError):
                ok = False
            elapsed = time.perf_counter() - began
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": len(latencies) / wall,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None, help="a model.tar.gz (default: built, width 64)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--framework", choices=("pytorch", "tensorflow"), default="pytorch")
    args = parser.parse_args()
    build = build_keras_archive if args.framework == "tensorflow" else build_archive

    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="dtrain-bench-serving-") as scratch:
        archive = args.model or build(Path(scratch), args.width)
        colds = [cold_start(archive, args.workers) for _ in range(args.cold_runs)]
        pings, answers = [c[0] for c in colds], [c[1] for c in colds]
        print(
            f"cold start ({args.workers} workers): dtrain serve -> first /ping 200 median "
            f"{statistics.median(pings):.2f} s {[round(c, 2) for c in pings]}; -> first answer median "
            f"{statistics.median(answers):.2f} s {[round(c, 2) for c in answers]}",
            flush=True,
        )

        model_dir = Path(scratch) / "served"
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")
        rng = np.random.default_rng(0)
        one = json.dumps(rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8).tolist()).encode()
        buffer = io.BytesIO()
        np.save(buffer, rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8))
        scenarios: dict[str, tuple[bytes, str, int]] = {
            "1 image, JSON": (one, "application/json", 1),
            "64 images, NPY": (buffer.getvalue(), "application/x-npy", 64),
        }
        report: Callable[[str, dict[str, float], int], None] = lambda name, r, n: print(  # noqa: E731
            f"{name:16s} {r['requests_per_s']:8.1f} req/s ({r['requests_per_s'] * n:8.1f} images/s)  "
            f"p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
            f"[{int(r['requests'])} requests, {int(r['errors'])} errors, {args.clients} clients, "
            f"{args.workers} workers]",
            flush=True,
        )
        with start_server(model_dir, port=0, workers=args.workers) as handle:
            peak = PeakRss(handle.process.pid)
            for name, (body, content_type, images) in scenarios.items():
                load(handle.url, body, content_type, args.clients, 2.0)  # warm-up
                report(name, load(handle.url, body, content_type, args.clients, args.seconds), images)
            print(
                f"peak memory of the server (RSS, all its processes): {peak.stop() / 2**20:.0f} MiB",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
