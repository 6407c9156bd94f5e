"""The content-type matrix as a table: case, expected (what the toolkit's source answers), got.

Four servers of the real stacks (tests/serving/matrix_cases.py says which and why each answer is
expected): a PyTorch model left to sagemaker-inference's decoders, a PyTorch model with the
trainers' inference code (random weights, width 4), the Keras trainers' SavedModel with their
handlers under the TF Serving image's Python service, and the same SavedModel without handlers.
Each case is one request. The tests assert the same cases; this prints them for a report, with
the machine's load.

Usage: .venv/bin/python benchmarks/content_type_matrix.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "training_code"), str(REPO / "benchmarks")]

from serving import KERAS_MODEL, build_archive  # noqa: E402

from dtrain.serving import start_server  # noqa: E402
from dtrain.serving.archive import unpack_model  # noqa: E402
from tests.serving.matrix_cases import DEFAULTS_INFERENCE, Case, cases, outcome  # noqa: E402


def ask(url: str, case: Case) -> tuple[int, bytes]:
    headers = {"Content-Type": case.content_type, "Accept": case.accept}
    request = urllib.request.Request(f"{url}/invocations", data=case.body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def models(scratch: Path) -> dict[str, Path]:
    defaults = scratch / "defaults"
    (defaults / "code").mkdir(parents=True)
    (defaults / "code" / "inference.py").write_text(DEFAULTS_INFERENCE)
    bundled = unpack_model(str(build_archive(scratch / "bundled-build", 4)), scratch / "bundled")
    keras = scratch / "keras"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    python = REPO / ".venv-hvd" / "bin" / "python"
    subprocess.run(
        [str(python), "-c", KERAS_MODEL, str(keras), "4", str(REPO / "training_code")], check=True, env=env
    )
    bare = scratch / "keras-bare"
    (bare / "1").mkdir(parents=True)
    subprocess.run(["cp", "-r", str(keras / "1"), str(bare)], check=True)
    return {"defaults": defaults, "bundled": bundled, "keras": keras, "keras-bare": bare}


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 70 else text[:67] + "..."


def main() -> int:
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs", flush=True)
    rows, failures = [], 0
    with tempfile.TemporaryDirectory(prefix="dtrain-bench-matrix-") as scratch:
        (Path(scratch) / "bundled-build").mkdir()
        for stack, model_dir in models(Path(scratch)).items():
            with start_server(
                model_dir, port=0, workers=1, log_file=Path(scratch) / f"{stack}.log"
            ) as server:
                for case in (c for c in cases() if c.stack == stack):
                    status, body = ask(server.url, case)
                    got = outcome(status, body)
                    ok = status == case.status and case.expect in got
                    failures += not ok
                    expected = f"{case.status} {case.expect}".strip()
                    rows.append(
                        (stack, case.name, expected, f"{status} {short(got)}", "ok" if ok else "DIFFERS")
                    )
    print("| stack | case | expected | got | |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(cell.replace("|", "\\|").replace("\n", "\\n") for cell in row) + " |")
    print(f"{len(rows) - failures} of {len(rows)} as expected")
    print(f"load average after: {os.getloadavg()}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
