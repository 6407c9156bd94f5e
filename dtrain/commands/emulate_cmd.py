"""`dtrain emulate up|status|down`: the whole platform in a background AWS emulator.

`up` synthesizes app.py for the emulator (cdk.json's context, `emulator=true`: no
bootstrap-version rule), deploys every stack into a background emulator server whose
SageMaker runs jobs with local mode, and prints the `export AWS_ENDPOINT_URL=...` line that
points `dtrain submit|status|logs|stop|list` (and the AWS CLI) at it, plus one line naming
what the emulator does not enforce. The server and its state file (one per port, in the
user's state directory: dtrain/emulator/server_state.py) are dtrain.emulator's; this command
only adds the full-app synth and local-mode images.

Exit codes: 0 up / running / stopped; 1 the server failed to come up (or, checked before
anything starts, enforcement's IAM simulator is not installed); 2 bad --port or the
port is taken by another program; 3 (status) no emulator runs on the port: none was started,
or the recorded server is gone or not answering (LSB's "program is not running", so a script's
`dtrain emulate status || dtrain emulate up` works); 130 interrupted (the half-started server
is stopped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dtrain.commands import bounded_int
from dtrain.emulator.server_state import DEFAULT_PORT

EXIT_GONE = 3
DEFAULT_WORKDIR = ".dtrain/emulator"
_port = bounded_int(1, 65535, noun="a port number", rule="a port is 1..65535")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "emulate",
        help="run the whole platform in a background AWS emulator (no AWS account needed)",
        description=(
            "up: synthesize app.py for the emulator, deploy every stack into a background "
            "emulator server (training jobs run with local mode) and print the "
            "`export AWS_ENDPOINT_URL=...` line for dtrain submit/status/logs/stop/list. "
            "status: what runs where. down: stop it."
        ),
    )
    sub = parser.add_subparsers(dest="emulate_action", required=True, metavar="{up,status,down}")
    port_help = f"server port (default {DEFAULT_PORT})"
    for name in ("up", "serve"):
        p = sub.add_parser(name, help="start the emulator" if name == "up" else argparse.SUPPRESS)
        p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=port_help)
        p.add_argument("--workdir", default=DEFAULT_WORKDIR, help="synth output, job trees and the log")
        p.add_argument(
            "--assembly",
            default=None,
            metavar="DIR",
            help="deploy this synthesized cloud assembly (cdk synth -c emulator=true -o DIR; any stack "
            "names) instead of synthesizing app.py",
        )
        p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the deploy")
        p.add_argument(
            "--no-enforce",
            dest="enforce",
            action="store_false",
            help="do not authorize the platform's calls against its IAM, resource and key policies",
        )
        p.set_defaults(func=handle_up if name == "up" else handle_serve)
    # status and down address the emulator the shell points at: the one `up` printed the export
    # line of (a benchmark's or a second emulator's port), else the default port.
    found_help = (
        f"server port (default: AWS_ENDPOINT_URL's, when it is 127.0.0.1/localhost, else {DEFAULT_PORT})"
    )
    status = sub.add_parser("status", help="endpoint, stacks and outputs of the running emulator")
    status.add_argument("--port", type=_port, default=None, help=found_help)
    status.set_defaults(func=handle_status)
    down = sub.add_parser("down", help="stop the background emulator")
    down.add_argument("--port", type=_port, default=None, help=found_help)
    down.set_defaults(func=handle_down)


def endpoint_port(port: int | None) -> int:
    """--port, else the port of AWS_ENDPOINT_URL when it names this machine, else DEFAULT_PORT."""
    import os
    from urllib.parse import urlparse

    if port is not None:
        return port
    url = urlparse(os.environ.get("AWS_ENDPOINT_URL", ""))
    try:
        named = url.port
    except ValueError:  # a malformed port: not an emulator this command could address
        named = None
    if url.hostname in ("127.0.0.1", "localhost") and named is not None:
        return named
    return DEFAULT_PORT


def _print_exports(state: dict[str, Any]) -> None:
    print(
        f"export AWS_ENDPOINT_URL={state['endpoint']} AWS_ACCESS_KEY_ID=emulator "
        f"AWS_SECRET_ACCESS_KEY=emulator AWS_DEFAULT_REGION={state.get('region', 'us-east-1')}"
    )


def handle_up(args: argparse.Namespace) -> int:
    from dtrain.emulator.background import StartFailed, server_scratch, start_in_background
    from dtrain.emulator.deploy import enforcement_line
    from dtrain.emulator.server_state import live_state, port_free

    running, gone = live_state(args.port)
    if running is not None:
        print(f"already up (pid {running['pid']}):", file=sys.stderr)
        _print_exports(running)
        return 0
    if gone:
        print(f"{gone}; starting a new one", file=sys.stderr)
    if not port_free(args.port):  # before anything is started or printed
        print(
            f"dtrain emulate up: port {args.port} on 127.0.0.1 is in use by another program; "
            "pick another with --port",
            file=sys.stderr,
        )
        return 2
    missing = _missing_simulator() if args.enforce else None
    if missing:  # before the synth (tens of seconds) that the server would fail after
        print(f"dtrain emulate up: {missing}, or start it with --no-enforce", file=sys.stderr)
        return 1
    workdir = Path(args.workdir)
    if workdir.exists() and not workdir.is_dir():
        print(f"dtrain emulate up: --workdir {workdir}: not a directory", file=sys.stderr)
        return 2
    team_app = None if args.assembly else other_cdk_app(Path.cwd())
    if team_app is not None:  # this folder's app is the platform to deploy, not dtrain's own
        try:
            args.assembly = str(synth_with_cdk_cli(team_app.parent, workdir / "cdk.out"))
        except RuntimeError as exc:
            print(f"dtrain emulate up: {exc}", file=sys.stderr)
            return 1
    cmd = [sys.executable, "-m", "dtrain", "emulate", "serve", "--port", str(args.port),
           "--workdir", str(workdir)]  # fmt: skip
    if args.assembly:
        cmd += ["--assembly", args.assembly]
    if not args.enforce:
        cmd += ["--no-enforce"]
    log_path = workdir / "server.log"
    what = f"deploying {args.assembly}" if args.assembly else "synthesizing app.py and deploying it"
    print(f"{what} into the emulator (log: {log_path}) ...", file=sys.stderr)
    try:
        state = start_in_background(
            cmd, port=args.port, log_path=log_path, timeout=args.timeout, scratch=server_scratch(workdir)
        )
    except StartFailed as exc:
        print(f"dtrain emulate up: {exc.message}", file=sys.stderr)
        return exc.code
    gaps = ", ".join(state["not_modelled"]) or "nothing"
    print(f"emulator: {enforcement_line(args.enforce)}; not modelled: {gaps}")
    print(f"stacks: {', '.join(state['stacks'])} (CREATE_COMPLETE)")
    _print_exports(state)
    return 0


def other_cdk_app(folder: Path) -> Path | None:
    """`folder`/cdk.json when it is another CDK app than dtrain's own (a platform team's app with
    DtrainPlatform in it), else None. The CDK CLI runs the cdk.json of the folder it is run in;
    `up` does the same: from a team's folder it deployed dtrain's app instead of the team's."""
    from dtrain.package_data import cdk_json

    found = folder / "cdk.json"
    if not found.is_file() or found.resolve() == cdk_json().resolve():
        return None
    return found


def synth_with_cdk_cli(app_folder: Path, outdir: Path) -> Path:
    """The app of `app_folder`/cdk.json synthesized by the CDK CLI installed for it (`npx
    --no-install cdk`: the platform team guide's `npm install aws-cdk@...` in the app's folder)
    with `-c emulator=true`, into `outdir`; RuntimeError with the CLI's last lines if it fails."""
    import os
    import shutil
    import subprocess

    npx = shutil.which("npx")
    if npx is None:
        raise RuntimeError(f"{app_folder}/cdk.json is a CDK app: synthesizing it needs Node.js's npx on PATH")
    print(f"synthesizing {app_folder}/cdk.json's app with the CDK CLI (npx cdk synth) ...", file=sys.stderr)
    done = subprocess.run(
        [npx, "--no-install", "cdk", "synth", "--quiet", "-c", "emulator=true", "-o", str(outdir.resolve())],
        cwd=app_folder,
        env={**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not (outdir / "manifest.json").is_file():
        said = "\n".join((done.stderr + done.stdout).strip().splitlines()[-8:])
        raise RuntimeError(f"cdk synth of {app_folder}/cdk.json failed (exit {done.returncode}):\n{said}")
    return outdir.resolve()


def _missing_simulator() -> str | None:
    """Why enforcement cannot start (the IAM simulator's Node package is not installed), or None."""
    from dtrain.emulator.authz.engine import SIMULATOR, node_modules

    modules = node_modules()
    if (modules / SIMULATOR).is_dir():
        return None
    return (
        f"{SIMULATOR} is not installed under {modules}: run `npm ci` in a checkout, or "
        f"`npm install {SIMULATOR}` and set DTRAIN_NODE_MODULES to its node_modules"
    )


def handle_serve(args: argparse.Namespace) -> int:
    """The background process `up` starts: synth app.py for the emulator, deploy, serve until
    SIGTERM (or SIGHUP/SIGINT), with local mode training the jobs (dtrain/emulator/serve.py)."""
    from dtrain.emulator.serve import ServeOptions, serve

    assembly = Path(args.assembly) if args.assembly else None
    options = ServeOptions(
        port=args.port, workdir=Path(args.workdir), assembly=assembly, enforce=args.enforce
    )
    return serve(options, prog="dtrain emulate serve")


def handle_status(args: argparse.Namespace) -> int:
    import json

    from dtrain.emulator.server_state import live_state

    state, gone = live_state(endpoint_port(args.port))
    if gone:
        print(f"dtrain emulate status: {gone} (removed its record)", file=sys.stderr)
        return EXIT_GONE
    if state is None:
        print("not running")
        return EXIT_GONE
    print(json.dumps(state, indent=2))
    return 0


def handle_down(args: argparse.Namespace) -> int:
    from dtrain.emulator.background import stop_server
    from dtrain.emulator.server_state import live_state, remove_state

    port = endpoint_port(args.port)
    state, gone = live_state(port)
    if gone:
        print(f"not running ({gone})")
        return 0
    if state is None:
        print("not running")
        return 0
    pid = int(state["pid"])
    if stop_server(state):
        remove_state(port, pid=pid)
        print(f"stopped emulator (pid {pid})")
        return 0
    print(f"dtrain emulate down: emulator (pid {pid}) is still stopping after 30 s", file=sys.stderr)
    return 1
