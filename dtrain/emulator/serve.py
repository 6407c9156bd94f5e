"""The emulator server process: synthesize (or take a cdk.out), deploy, record, serve until a signal.

One implementation behind both ways of starting it: `dtrain emulate serve` (the process
`dtrain emulate up` starts, dtrain/commands/emulate_cmd.py) and `python -m dtrain.emulator serve`
(dtrain/emulator/__main__.py, which can also serve the test stand-in platform). SIGTERM, SIGHUP
and SIGINT unwind every phase, synth included; each `with`/`finally` undoes its part, so no state
file, listener or temporary folder is left behind on any of them.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from dtrain.emulator.apps import synth_standin_app
from dtrain.emulator.background import (
    ScratchNotOurs,
    Stop,
    install_server_signals,
    private_tmpdir,
    serve_until_signalled,
)
from dtrain.emulator.local_backend import local_sagemaker_backend
from dtrain.emulator.platform_app import synth_for_emulator
from dtrain.emulator.server_state import (
    held_lock,
    port_free,
    port_lock,
    process_identity,
    remove_state,
    write_state,
)
from dtrain.local import LocalConfig

EXIT_PORT_IN_USE = 1
WORKDIR_LOCK = "server.lock"


@dataclass(frozen=True)
class ServeOptions:
    port: int
    workdir: Path  # synth output (cdk.out), local-mode job trees (jobs/) and the scratch TMPDIR
    assembly: Path | None = None  # a synthesized cdk.out to deploy; None synthesizes one
    standin: bool = False  # synthesize the tests' stand-in platform instead of app.py
    local: bool = True  # created training jobs run with local mode (else they wait to be played)
    enforce: bool | None = None  # None: DTRAIN_EMULATOR_ENFORCE decides (on unless "0")


def serve(options: ServeOptions, *, prog: str) -> int:
    """Run the server until a signal; 0 when it stopped on one, 1 when the port is taken."""

    install_server_signals()
    try:
        # Two servers for one port or one work directory: the second gives up before it
        # synthesizes anything, and never touches the first one's record or folders.
        with held_lock(port_lock(options.port)) as port_ours:
            if not port_ours:
                print(
                    f"{prog}: port {options.port}: another emulator server is starting or running "
                    f"on it (its lock: {port_lock(options.port)})",
                    file=sys.stderr,
                )
                return EXIT_PORT_IN_USE
            options.workdir.mkdir(parents=True, exist_ok=True)
            with held_lock(options.workdir / WORKDIR_LOCK) as workdir_ours:
                if not workdir_ours:
                    print(
                        f"{prog}: --workdir {options.workdir}: another emulator server is using it",
                        file=sys.stderr,
                    )
                    return EXIT_PORT_IN_USE
                if not port_free(options.port):
                    print(f"{prog}: port {options.port} on 127.0.0.1 is in use", file=sys.stderr)
                    return EXIT_PORT_IN_USE
                with private_tmpdir(options.workdir):
                    return _serve_in(options)
    except ScratchNotOurs as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    except Stop:
        return 0


def _assembly(options: ServeOptions) -> Path:
    if options.assembly is not None:
        return options.assembly
    if options.standin:
        return synth_standin_app(options.workdir / "cdk.out")

    return synth_for_emulator(options.workdir / "cdk.out")


def _serve_in(options: ServeOptions) -> int:
    from dtrain.emulator.core import Emulator
    from dtrain.emulator.schedules import AWS_RATE  # lazy: loads moto's shims, as the emulator does

    options.workdir.mkdir(parents=True, exist_ok=True)
    assembly = _assembly(options)
    backend = None
    if options.local:
        backend = local_sagemaker_backend(options.workdir / "jobs")
    with Emulator(
        assembly,
        sagemaker=backend,
        server_port=options.port,
        enforce=options.enforce,
        schedule_scale=AWS_RATE,  # Reconcile every 5 minutes, as deployed
    ) as emu:
        assert emu.deployment is not None
        if backend is not None:
            # Every deployed platform's ECR image URIs are local mode's packaged images (the
            # orchestration stacks are found by their PlatformSettings output, whatever their names).
            config = LocalConfig.load()
            for platform in emu.platforms():
                settings = json.loads(emu.output_of(platform, "PlatformSettings"))
                config = config.with_platform_images(dict(settings.get("image_uris", {})))
            backend.config = config
        state = {
            "pid": os.getpid(),
            # who the pid is: `down` signals it only while it still names this very process
            **(process_identity(os.getpid()) or {}),
            "endpoint": emu.endpoint_url,
            "region": emu.region,
            "stacks": {name: s.outputs for name, s in emu.deployment.stacks.items()},
            "not_modelled": emu.deployment.not_modelled() + emu.deployment.skipped_assets,
        }
        try:
            write_state(options.port, state)
            serve_until_signalled()
        finally:
            remove_state(options.port, pid=os.getpid())
    return 0
