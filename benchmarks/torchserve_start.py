"""Where a TorchServe start spends its time: each phase from `start_server` to the model's first READY worker.

The model is benchmarks/serving.py's (the bundled CIFAR-10 network, width 64, with the trainers'
code/inference.py). `start_server` runs as `dtrain serve` runs it; the server's log is read as it
grows and each line is stamped on arrival, so the phases are the moments these lines first appear:

- `toolkit`: the toolkit's `serve` is running (its first line);
- `requirements`: the toolkit is done with code/requirements.txt (pip), when the archive has one;
- `jvm`: TorchServe's frontend (Java) logs its version;
- `model registered`: the frontend has read the model and starts the workers;
- `worker python`: a backend worker (Python) has started and listens on its socket;
- `ready`: a worker has loaded the model (model_fn done) and `start_server` returned.

--runs starts (median and each), --workers per start, --requirements adds a code/requirements.txt
naming a package already installed (what the bundled trainers ship), so pip's cost shows.
The machine's load average is printed before and after: other work on it shifts every number.

Usage: .venv/bin/python benchmarks/torchserve_start.py [--runs 3] [--workers 1] [--requirements]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from serving import build_archive  # noqa: E402

from dtrain.serving import start_server  # noqa: E402

PHASES = {
    "toolkit": ("sagemaker_pytorch_serving_container", "sagemaker-inference", "Running command", "serving"),
    "requirements": ("Requirement already satisfied", "Successfully installed"),
    "jvm": ("Torchserve version:",),
    "model registered": ("Adding new model", "Registering model", "Model model loaded"),
    "worker python": ("Listening on addr:", "Connection accepted"),
}


class StampedLog:
    """Reads a growing log file, stamping each new line with the time it was first seen."""

    def __init__(self, path: Path, started: float) -> None:
        self.path, self.started, self.lines = path, started, list[tuple[float, str]]()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offset, partial = 0, b""
        while not self._done.is_set():
            try:
                with open(self.path, "rb") as log:
                    log.seek(offset)
                    data = log.read()
            except FileNotFoundError:
                data = b""
            offset += len(data)
            now = time.perf_counter() - self.started
            *complete, partial = (partial + data).split(b"\n")
            self.lines += [(now, line.decode("utf-8", "replace")) for line in complete]
            time.sleep(0.02)

    def stop(self) -> None:
        time.sleep(0.1)
        self._done.set()
        self._thread.join()

    def first(self, markers: tuple[str, ...]) -> float | None:
        return next((t for t, line in self.lines if any(m in line for m in markers)), None)


def one_start(model_dir: Path, workers: int, scratch: Path) -> dict[str, float | None]:
    log = scratch / f"server-{time.monotonic_ns()}.log"
    started = time.perf_counter()
    stamped = StampedLog(log, started)
    with start_server(model_dir, port=0, workers=workers, log_file=log):
        ready = time.perf_counter() - started
    stamped.stop()
    phases: dict[str, float | None] = {name: stamped.first(markers) for name, markers in PHASES.items()}
    phases["ready"] = ready
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument(
        "--requirements", action="store_true", help="the archive carries code/requirements.txt"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="dtrain-bench-ts-start-") as scratch:
        archive = build_archive(Path(scratch), args.width)
        model_dir = Path(scratch) / "served"
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")
        if args.requirements:
            (model_dir / "code" / "requirements.txt").write_text("numpy\n")
        runs = [one_start(model_dir, args.workers, Path(scratch)) for _ in range(args.runs)]
    for name in [*PHASES, "ready"]:
        seen = [r[name] for r in runs if r[name] is not None]
        each = ", ".join(f"{v:.2f}" for v in seen)
        median = f"{statistics.median(seen):6.2f} s" if seen else "   (not in the log)"
        print(f"{name:17s} median {median}  [{each}]", flush=True)
    print(f"load average after: {os.getloadavg()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
