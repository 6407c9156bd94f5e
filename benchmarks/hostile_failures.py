"""How long each command takes to FAIL on a bad input or a dead endpoint (issue 15's figure).

Every case runs as a fresh process (`python -m dtrain ...`, interpreter start-up and imports
included) with the DEFAULT time-outs, against bad files in a temporary directory and local
sockets on free ports (a server that accepts and never answers, one that closes, one that sends
an HTML page, a port nobody listens on). Prints one row per case (exit code, seconds, the last
stderr line) and the longest; exits 1 if any case took longer than --limit seconds (20 s: the
issue's bound for a silent server) or ended with a traceback.

Usage: .venv/bin/python benchmarks/hostile_failures.py [--limit 20]

`--classes` prints issue 31's figure instead: per class of hostile input (paths, processes,
serving edges, command errors), the cases its suite in tests/hostile holds and how they ended;
`--against REF` also runs the same suites against the code of git REF (a temporary worktree with
today's tests/hostile copied in), to show which cases the old code failed.

    .venv/bin/python benchmarks/hostile_failures.py --classes [--against 0589baf]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dtrain.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


class Server:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.mode == "silent":
                self.held.append(conn)
                continue
            conn.settimeout(2)
            try:
                conn.recv(65536)
                if self.mode == "html":
                    body = b"<html><body>nginx</body></html>"
                    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
                    conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
            except OSError:
                pass
            conn.close()


def bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


# Issue 31's classes of hostile input and the suites of tests/hostile that hold each one's cases.
CLASS_SUITES = {
    "paths": ("tests/hostile/test_paths.py", "tests/hostile/test_source_links.py"),
    "processes": (
        "tests/hostile/test_process_ownership.py",
        "tests/hostile/test_process_hygiene.py",
        "tests/hostile/test_emulate_lifecycle.py",
        "tests/hostile/test_lock_files.py",
    ),
    # The serve tests run the real model server with a hostile model (children it detaches,
    # prints before the URL line) and hostile clients (half-sent requests).
    "serving edges": ("tests/hostile/test_serving_edges.py", "tests/hostile/test_serve_model_process.py"),
    "command errors": ("tests/hostile/test_command_errors.py", "tests/hostile/test_local_and_data_args.py"),
}


def run_class_suites(root: Path) -> dict[str, dict[str, int | float]]:
    """Run each class's suite with the code under `root`; per class: cases, passed, failed, seconds."""
    import xml.etree.ElementTree as ET

    figures: dict[str, dict[str, int | float]] = {}
    for name, suites in CLASS_SUITES.items():
        report = Path(tempfile.mkdtemp(prefix="dtrain-hostile-classes-")) / "report.xml"
        start = time.monotonic()
        pytest = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:randomly"]
        subprocess.run(
            [*pytest, *(s for s in suites if (root / s).exists()), f"--junitxml={report}"],
            cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
            capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        seconds = time.monotonic() - start
        # A case that fails and then errors at teardown is two <testcase> elements: one case here.
        outcome: dict[tuple[str, str], str] = {}
        for case in ET.parse(report).getroot().iter("testcase") if report.exists() else []:
            key = (case.get("classname", ""), case.get("name", ""))
            if case.find("failure") is not None or case.find("error") is not None:
                outcome[key] = "failed"
            elif case.find("skipped") is not None:
                outcome.setdefault(key, "skipped")
            else:
                outcome.setdefault(key, "passed")
        counts = {
            kind: sum(1 for v in outcome.values() if v == kind) for kind in ("passed", "failed", "skipped")
        }
        figures[name] = {"cases": len(outcome), **counts, "seconds": seconds}
        import shutil

        shutil.rmtree(report.parent, ignore_errors=True)
    return figures


def classes_main(against: str | None) -> int:
    import shutil

    columns = {"now": run_class_suites(ROOT)}
    if against:
        old = Path(tempfile.mkdtemp(prefix="dtrain-hostile-old-")) / "checkout"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old), against], check=True
        )
        try:
            for name in os.listdir(ROOT / "tests" / "hostile"):
                if name.endswith(".py"):
                    shutil.copy2(ROOT / "tests" / "hostile" / name, old / "tests" / "hostile" / name)
            columns[against] = run_class_suites(old)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
            shutil.rmtree(old.parent, ignore_errors=True)
    print(f"{'class':16} {'suite':42} " + "  ".join(f"{label[:12]:>30}" for label in columns))
    for name, suites in CLASS_SUITES.items():
        cells = []
        for figures in columns.values():
            f = figures[name]
            cells.append(
                f"{f['cases']:3} cases {f['passed']:3} pass {f['failed']:3} fail {f['seconds']:5.0f} s"
            )
        files = ", ".join(Path(s).stem.removeprefix("test_") for s in suites)
        print(f"{name:16} {files[:42]:42} " + "  ".join(f"{c:>30}" for c in cells))
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    return 0 if all(f["failed"] == 0 for f in columns["now"].values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=float, default=20.0)
    parser.add_argument("--classes", action="store_true", help="issue 31's per-class figure (see above)")
    parser.add_argument("--against", default=None, metavar="REF", help="with --classes: also the code of REF")
    args = parser.parse_args()
    if args.classes:
        return classes_main(args.against)

    work = Path(tempfile.mkdtemp(prefix="dtrain-hostile-bench-"))
    files = {
        "bomb.yaml": bomb().encode(),
        "deep.json": b"[" * 10000 + b"]" * 10000,
        "deep.yaml": b"[" * 10000 + b"]" * 10000,
        "bad.json": b'{"framework": "py\xfftorch"}',
        "dup.yaml": b"framework: pytorch\nframework: tensorflow\n",
        "big.json": b'{"x": "' + b"x" * (2 * 1024 * 1024) + b'"}',
    }
    for name, data in files.items():
        (work / name).write_bytes(data)
    silent, closing, html = Server("silent"), Server("close"), Server("html")
    busy = Server("html")
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(work / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "none"), "DTRAIN_STATE_DIR": str(work / "state"),
    }  # fmt: skip
    cases: list[tuple[str, list[str], dict[str, str]]] = []
    for command in ("validate", "submit", "local"):
        for name in files:
            extra = ["--workdir", str(work / "w")] if command == "local" else []
            cases.append((f"{command} {name}", [command, str(work / name), *extra], {}))
    for command in (["list"], ["status", "job"], ["logs", "job"], ["stop", "job"]):
        label = command[0]
        cases += [
            (f"{label} silent server (default time-outs)", command,
             {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{silent.port}"}),
            (f"{label} closing server", command, {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closing.port}"}),
            (f"{label} HTML server", command, {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{html.port}"}),
            (f"{label} dead port", command, {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}),
            (f"{label} invalid endpoint", command, {"AWS_ENDPOINT_URL": "notaurl"}),
            (f"{label} missing profile", command, {"AWS_PROFILE": "nope"}),
            (f"{label} invalid region", command, {"AWS_DEFAULT_REGION": "not/a/region"}),
        ]  # fmt: skip
    cases += [
        ("emulate up, port in use", ["emulate", "up", "--port", str(busy.port)], {}),
        ("emulate status, killed server", ["emulate", "status", "--port", str(free_port())], {}),
        ("local --procs-per-host 0", ["local", str(work / "bad.json"), "--procs-per-host", "0"], {}),
        ("data onto a file", ["data", "cifar10-sample", str(work / "bad.json")], {}),
    ]  # fmt: skip
    state = work / "state"
    state.mkdir()
    port = int(cases[-3][1][-1])
    (state / f"emulator-{port}.json").write_text(
        json.dumps({"pid": 2**22 + 1, "endpoint": f"http://127.0.0.1:{port}"})
    )

    rows = []
    for label, argv, env in cases:
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "dtrain", *argv], env={**base_env, **env}, cwd=work,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        seconds = time.monotonic() - start
        last = (done.stderr.strip().splitlines() or [""])[-1]
        rows.append((label, done.returncode, seconds, "Traceback" in done.stderr, last))
        print(f"{seconds:6.2f} s  exit {done.returncode}  {label:42}  {last[:90]}", flush=True)

    cfg_start = time.monotonic()
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["tags"] = {"project": "a\nb", **{f"t{i}": "x" for i in range(60)}}
    cdk_env = {**base_env, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(work / "o")}
    done = subprocess.run([sys.executable, str(ROOT / "app.py")], capture_output=True, text=True, timeout=300,
                          env=cdk_env)  # fmt: skip
    seconds = time.monotonic() - cfg_start
    rows.append(("app.py (cdk synth) bad tags", done.returncode, seconds, "Traceback" in done.stderr, ""))
    print(f"{seconds:6.2f} s  exit {done.returncode}  app.py (cdk synth) bad tags")

    worst = max(rows, key=lambda r: r[2])
    tracebacks = [r[0] for r in rows if r[3]]
    print(f"\n{len(rows)} cases; longest: {worst[2]:.2f} s ({worst[0]}); tracebacks: {tracebacks or 'none'}")
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 1 if worst[2] > args.limit or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
