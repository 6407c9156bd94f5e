"""`dtrain emulate up|status|down`: the whole platform in a background AWS emulator.

`up` synthesizes app.py for the emulator (cdk.json's context, `emulator=true`: no
bootstrap-version rule), deploys every stack into a background emulator server whose
SageMaker runs jobs with local mode, and prints the `export AWS_ENDPOINT_URL=...` line that
points `dtrain submit|status|logs|stop|list` (and the AWS CLI) at it, plus one line naming
what the emulator does not enforce. The server and its state file (`.dtrain/emulator.json`)
are dtrain.emulator's; this command only adds the full-app synth and local-mode images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_PORT = 4599
DEFAULT_WORKDIR = ".dtrain/emulator"


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
    for name in ("up", "serve"):
        p = sub.add_parser(name, help="start the emulator" if name == "up" else argparse.SUPPRESS)
        p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"server port (default {DEFAULT_PORT})")
        p.add_argument("--workdir", default=DEFAULT_WORKDIR, help="synth output, job trees and the log")
        p.add_argument("--assembly", default=None, help="deploy this synthesized cdk.out instead")
        p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the deploy")
        p.add_argument(
            "--no-enforce",
            dest="enforce",
            action="store_false",
            help="do not authorize the platform's calls against its IAM, resource and key policies",
        )
        p.set_defaults(func=handle_up if name == "up" else handle_serve)
    sub.add_parser("status", help="endpoint, stacks and outputs of the running emulator").set_defaults(
        func=handle_status
    )
    sub.add_parser("down", help="stop the background emulator").set_defaults(func=handle_down)


def handle_up(args: argparse.Namespace) -> int:
    import json
    import subprocess
    import time

    from dtrain.emulator.__main__ import STATE_FILE
    from dtrain.emulator.deploy import enforcement_line

    if STATE_FILE.exists():
        state = json.loads(STATE_FILE.read_text())
        print(f"already up: export AWS_ENDPOINT_URL={state['endpoint']}")
        return 0
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "dtrain",
        "emulate",
        "serve",
        "--port",
        str(args.port),
        "--workdir",
        str(workdir),
    ]
    if args.assembly:
        cmd += ["--assembly", args.assembly]
    if not args.enforce:
        cmd += ["--no-enforce"]
    log_path = workdir / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + args.timeout
    print(f"synthesizing app.py and deploying it into the emulator (log: {log_path}) ...", file=sys.stderr)
    while not STATE_FILE.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"emulator did not come up; see {log_path}", file=sys.stderr)
            if proc.poll() is None:
                proc.terminate()
            return 1
        time.sleep(0.5)
    state = json.loads(STATE_FILE.read_text())
    gaps = ", ".join(state["not_modelled"]) or "nothing"
    print(f"emulator: {enforcement_line(args.enforce)}; not modelled: {gaps}")
    print(f"stacks: {', '.join(state['stacks'])} (CREATE_COMPLETE)")
    print(
        f"export AWS_ENDPOINT_URL={state['endpoint']} AWS_ACCESS_KEY_ID=emulator "
        f"AWS_SECRET_ACCESS_KEY=emulator AWS_DEFAULT_REGION={state['region']}"
    )
    return 0


def handle_serve(args: argparse.Namespace) -> int:
    """The background process `up` starts: synth, deploy, serve until SIGTERM."""
    import json
    import os
    import signal
    import threading

    from dtrain.demo import local_sagemaker_backend, synth_for_emulator
    from dtrain.emulator import Emulator
    from dtrain.emulator.__main__ import STATE_FILE
    from dtrain.local import LocalConfig

    workdir = Path(args.workdir)
    assembly = Path(args.assembly) if args.assembly else synth_for_emulator(workdir / "cdk.out")
    backend = local_sagemaker_backend(workdir / "jobs")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Emulator(assembly, sagemaker=backend, server_port=args.port, enforce=args.enforce) as emu:
        assert emu.deployment is not None
        # The deployed platform's ECR image URIs are local mode's packaged images.
        settings = json.loads(emu.output("PlatformSettings"))
        backend.config = LocalConfig.load().with_platform_images(dict(settings.get("image_uris", {})))
        state = {
            "pid": os.getpid(),
            "endpoint": emu.endpoint_url,
            "region": emu.region,
            "stacks": {name: s.outputs for name, s in emu.deployment.stacks.items()},
            "not_modelled": emu.deployment.not_modelled() + emu.deployment.skipped_assets,
        }
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps(state, indent=2))
        try:
            stop.wait()
        finally:
            STATE_FILE.unlink(missing_ok=True)
    return 0


def handle_status(args: argparse.Namespace) -> int:
    from dtrain.emulator.__main__ import main

    return main(["status"])


def handle_down(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    from dtrain.emulator.__main__ import STATE_FILE, main

    if not STATE_FILE.exists():
        print("not running")
        return 0
    pid = int(json.loads(STATE_FILE.read_text())["pid"])
    code = main(["down"])  # SIGTERM: the server removes its state file, then stops listening
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"stopped emulator (pid {pid})")
            return code
        time.sleep(0.2)
    print(f"emulator (pid {pid}) is still stopping", file=sys.stderr)
    return 1
