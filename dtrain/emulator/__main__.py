"""`python -m dtrain.emulator up|down|status|serve`: the embedded platform in the background.

    up      synthesize (or take --assembly), start a background server, deploy, return
    serve   the server process `up` starts (dtrain/emulator/serve.py, as `dtrain emulate serve`)
    status  what runs where (endpoint, stack outputs)
    down    stop it
Point clients at it with the printed `AWS_ENDPOINT_URL` (fake credentials are fine). The
state file is per port, outside the working directory (dtrain/emulator/server_state.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dtrain.emulator.background import StartFailed, server_scratch, start_in_background, stop_server
from dtrain.emulator.serve import ServeOptions, serve
from dtrain.emulator.server_state import DEFAULT_PORT, live_state, remove_state


def _serve(args: argparse.Namespace) -> int:
    # The same server as `dtrain emulate serve` (dtrain/emulator/serve.py), with its options here.

    options = ServeOptions(
        port=args.port,
        workdir=Path(args.workdir),
        assembly=Path(args.assembly) if args.assembly else None,
        standin=args.standin,
        local=args.local,
    )
    return serve(options, prog="python -m dtrain.emulator serve")


def _up(args: argparse.Namespace) -> int:
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
    state, _ = live_state(args.port)
    if state is None:
        print("not running")
        return 0
    if not stop_server(state):
        print(f"emulator (pid {state['pid']}) is still stopping", file=sys.stderr)
        return 1
    remove_state(args.port, pid=int(state["pid"]))
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
        p.add_argument(
            "--assembly", help="a synthesized cdk.out to deploy (default: synth app.py for the emulator)"
        )
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
