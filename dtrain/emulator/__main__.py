"""`python -m dtrain.emulator up|down|status|serve`: the embedded platform in the background.

    up      synthesize (or take --assembly), start a background server, deploy, return
    status  what runs where (endpoint, stack outputs)
    down    stop it
Point clients at it with the printed `AWS_ENDPOINT_URL` (fake credentials are fine). The
state file is per port, outside the working directory (dtrain/emulator/server_state.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dtrain.emulator.server_state import (
    DEFAULT_PORT,
    live_state,
    port_free,
    remove_state,
    write_state,
)


def _serve(args: argparse.Namespace) -> int:
    from dtrain.emulator.background import Stop, install_server_signals, private_tmpdir

    install_server_signals()  # SIGTERM/SIGHUP/SIGINT unwind every phase, synth included
    if not port_free(args.port):
        print(f"python -m dtrain.emulator serve: port {args.port} on 127.0.0.1 is in use", file=sys.stderr)
        return 1
    try:
        with private_tmpdir(Path(args.workdir)):
            return _serve_in(args)
    except Stop:
        return 0


def _serve_in(args: argparse.Namespace) -> int:
    from dtrain.emulator import Emulator
    from dtrain.emulator.apps import synth_full_app, synth_standin_app
    from dtrain.emulator.background import serve_until_signalled

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
    with Emulator(assembly, sagemaker=backend, server_port=args.port) as emu:
        assert emu.deployment is not None
        state = {
            "pid": os.getpid(),
            "endpoint": emu.endpoint_url,
            "region": emu.region,
            "stacks": {name: s.outputs for name, s in emu.deployment.stacks.items()},
            "not_modelled": emu.deployment.not_modelled(),
        }
        try:
            write_state(args.port, state)
            serve_until_signalled()
        finally:
            remove_state(args.port)
    return 0


def _up(args: argparse.Namespace) -> int:
    from dtrain.emulator.background import StartFailed, server_scratch, start_in_background

    running, _ = live_state(args.port)
    if running is not None:
        print(f"already up: {running['endpoint']}")
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
    log_path = Path(args.workdir).with_suffix(".log")
    try:
        state = start_in_background(
            cmd,
            port=args.port,
            log_path=log_path,
            timeout=args.timeout,
            scratch=server_scratch(Path(args.workdir)),
        )
    except StartFailed as exc:
        print(f"python -m dtrain.emulator up: {exc.message}", file=sys.stderr)
        return exc.code
    print(
        f"export AWS_ENDPOINT_URL={state['endpoint']} AWS_ACCESS_KEY_ID=emulator "
        f"AWS_SECRET_ACCESS_KEY=emulator AWS_DEFAULT_REGION={state['region']}"
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    from dtrain.emulator.background import stop_server

    state, _ = live_state(args.port)
    if state is None:
        print("not running")
        return 0
    if not stop_server(int(state["pid"])):
        print(f"emulator (pid {state['pid']}) is still stopping", file=sys.stderr)
        return 1
    remove_state(args.port)
    return 0


def _status(args: argparse.Namespace) -> int:
    state, gone = live_state(args.port)
    if gone:
        print(gone, file=sys.stderr)
        return 3
    print(json.dumps(state, indent=2) if state else "not running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dtrain.emulator")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, func in (("up", _up), ("serve", _serve)):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=DEFAULT_PORT)
        p.add_argument("--workdir", default=".dtrain/emulator")
        p.add_argument("--assembly", help="a synthesized cdk.out to deploy (default: synth app.py)")
        p.add_argument("--standin", action="store_true", help="deploy the test stand-in platform instead")
        p.add_argument("--local", action="store_true", help="run created jobs with local mode")
        p.add_argument("--timeout", type=float, default=300.0)
        p.set_defaults(func=func)
    for name, func in (("down", _down), ("status", _status)):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=DEFAULT_PORT)
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
