"""`python -m dtrain.emulator up|down|status|serve`: the embedded platform in the background.

    up      synthesize (or take --assembly), start a background server, deploy, return
    status  what runs where (endpoint, stack outputs)
    down    stop it
Point clients at it with the printed `AWS_ENDPOINT_URL` (fake credentials are fine).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

STATE_FILE = Path(".dtrain/emulator.json")


def _serve(args: argparse.Namespace) -> int:
    from dtrain.emulator import Emulator
    from dtrain.emulator.apps import synth_full_app, synth_standin_app

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.assembly:
        assembly = Path(args.assembly)
    elif args.standin:
        assembly = synth_standin_app(work / "cdk.out")
    else:
        assembly = synth_full_app(work / "cdk.out")
    backend = None
    if args.local:
        from dtrain.emulator.local_backend import LocalRunnerBackend

        backend = LocalRunnerBackend(workdir=work / "jobs")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Emulator(assembly, sagemaker=backend, server_port=args.port) as emu:
        assert emu.deployment is not None
        state = {
            "pid": os.getpid(),
            "endpoint": emu.endpoint_url,
            "region": emu.region,
            "stacks": {name: s.outputs for name, s in emu.deployment.stacks.items()},
            "not_modelled": emu.deployment.not_modelled(),
        }
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps(state, indent=2))
        stop.wait()
    STATE_FILE.unlink(missing_ok=True)
    return 0


def _up(args: argparse.Namespace) -> int:
    if STATE_FILE.exists():
        print(f"already up: {json.loads(STATE_FILE.read_text())['endpoint']}")
        return 0
    cmd = [
        sys.executable,
        "-m",
        "dtrain.emulator",
        "serve",
        "--port",
        str(args.port),
        "--workdir",
        args.workdir,
    ]
    cmd += ["--assembly", args.assembly] if args.assembly else []
    cmd += ["--standin"] if args.standin else []
    cmd += ["--local"] if args.local else []
    log = open(Path(args.workdir).with_suffix(".log"), "w")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + args.timeout
    while not STATE_FILE.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"emulator did not come up; see {log.name}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    state = json.loads(STATE_FILE.read_text())
    print(
        f"export AWS_ENDPOINT_URL={state['endpoint']} AWS_ACCESS_KEY_ID=emulator "
        f"AWS_SECRET_ACCESS_KEY=emulator AWS_DEFAULT_REGION={state['region']}"
    )
    return 0


def _down(_: argparse.Namespace) -> int:
    if not STATE_FILE.exists():
        print("not running")
        return 0
    pid = int(json.loads(STATE_FILE.read_text())["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        STATE_FILE.unlink(missing_ok=True)
    return 0


def _status(_: argparse.Namespace) -> int:
    print(STATE_FILE.read_text() if STATE_FILE.exists() else "not running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dtrain.emulator")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, func in (("up", _up), ("serve", _serve)):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=4599)
        p.add_argument("--workdir", default=".dtrain/emulator")
        p.add_argument("--assembly", help="a synthesized cdk.out to deploy (default: synth app.py)")
        p.add_argument("--standin", action="store_true", help="deploy the test stand-in platform instead")
        p.add_argument("--local", action="store_true", help="run created jobs with local mode")
        p.add_argument("--timeout", type=float, default=300.0)
        p.set_defaults(func=func)
    sub.add_parser("down").set_defaults(func=_down)
    sub.add_parser("status").set_defaults(func=_status)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
