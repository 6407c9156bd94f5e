"""The emulator set-ups the tests and the benchmarks share, defined once.

    with standin_emulator() as emu: ...                    # synth the stand-in platform, deploy it
    with standin_emulator(assembly, sagemaker=b) as emu:   # deploy an already synthesized cdk.out
    path = standin_assembly_once(shared_dir)               # one synth per directory, across processes
    path = synthesized_once(shared_dir, synth_for_emulator)  # the same for another app
    with emulated_services(backend): ...                   # moto + shims, no template (Lambda unit tests)

Synthesizing the stand-in app costs seconds (a jsii Node.js process, asset bundling): the test
session does it once (tests/conftest.py `standin_assembly`), and under pytest-xdist the workers
share that one synth through `standin_assembly_once` (a file lock on the shared directory).
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dtrain.emulator.apps import synth_standin_app
from dtrain.emulator.shims import LambdaRuntime, Shims, installed, new_workdir

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

    from dtrain.emulator.core import Emulator
    from dtrain.emulator.sagemaker import SageMakerBackend
    from dtrain.emulator.shims import Shims

# moto runs Step Functions executions (the state machine's states really execute).
MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}}


@contextlib.contextmanager
def standin_emulator(assembly: Path | None = None, **options: Any) -> Iterator[Emulator]:
    """The stand-in platform (dtrain.emulator.apps.synth_standin_app) deployed into an emulator.

    `assembly`: a synthesized stand-in cdk.out to deploy; None synthesizes one into a temporary
    directory removed afterwards. `options` go to Emulator (sagemaker=, enforce=, server_port=);
    it announces nothing unless announce=True is passed.
    """
    from dtrain.emulator.core import Emulator

    options.setdefault("announce", False)
    with contextlib.ExitStack() as stack:
        if assembly is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dtrain-standin-"))
            assembly = synth_standin_app(Path(tmp) / "cdk.out")
        yield stack.enter_context(Emulator(assembly, **options))


def standin_assembly_once(shared_dir: Path) -> Path:
    """`shared_dir`/cdk.out holding the synthesized stand-in app (see `synthesized_once`)."""

    return synthesized_once(shared_dir, synth_standin_app)


def synthesized_once(shared_dir: Path, synth: Callable[[Path], Path]) -> Path:
    """`shared_dir`/cdk.out holding `synth(outdir)`'s app, synthesized by the first caller.

    Callers in other processes (pytest-xdist workers of one session) wait on a lock file in
    `shared_dir` and reuse the finished synth; a synth that failed half-way leaves no manifest,
    so the next caller synthesizes again.
    """
    shared_dir.mkdir(parents=True, exist_ok=True)
    outdir = shared_dir / "cdk.out"
    with (shared_dir / "synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (outdir / "manifest.json").is_file():
            shutil.rmtree(outdir, ignore_errors=True)
            synth(outdir)
    return outdir


@contextlib.contextmanager
def emulated_services(sagemaker: SageMakerBackend) -> Iterator[Shims]:
    """moto (Step Functions executing) with the emulator's shims and no template deployed:
    SageMaker answers through `sagemaker`, Lambdas run in a scratch directory removed afterwards."""
    from moto import mock_aws

    runtime = LambdaRuntime(workdir=new_workdir())
    try:
        with (
            mock_aws(config=MOTO_CONFIG),
            installed(Shims(runtime=runtime, sagemaker_backend=sagemaker)) as shims,
        ):
            yield shims
    finally:
        shutil.rmtree(runtime.workdir, ignore_errors=True)
