"""Session fixtures shared by every test folder: ONE synthesized CDK app per test session.

Synthesizing the app costs seconds (jsii start-up, asset hashing, cdk-nag); every stack test,
snapshot and scanner reuses the same synthesis through these fixtures:

- `cdk_context`      dict: cdk.json's context (what `npx cdk synth` would pass)
- `synthesized_app`  SynthesizedApp: everything below in one object
- `app`              aws_cdk.App, already synthesized (cdk-nag ran during that synth)
- `platform`         dtrain.constructs.platform.DtrainPlatform: its stacks, handles, config
- `cloud_assembly`   aws_cdk.cx_api.CloudAssembly of that synth
- `templates`        dict[str, assertions.Template] keyed by short stack name
                     ("network", "storage", "training", and any stack added later, named by its
                     id without the stack prefix, lower-cased: "DtrainOrchestration" -> "orchestration")
- `template_files`   dict[str, Path]: the same keys -> the synthesized template JSON file
- `template_dicts`   dict[str, dict]: the same keys -> the parsed template
- `standin_assembly` Path: the emulator's stand-in platform (dtrain.emulator.apps), synthesized
                     once per session, shared by pytest-xdist's workers; deploy it with
                     `dtrain.emulator.fixtures.standin_emulator(standin_assembly)`
- `emulator_app_assembly` Path: app.py synthesized for the emulator as `make demo` and
                     `dtrain emulate up` do (dtrain.emulator.platform_app.synth_for_emulator),
                     once per session
- `synth_cache_dir`  Path: the synth cache this session uses (below)
- `example_runs`     tests.example_runs.ExampleRuns: each example's tiny `dtrain local` run, made
                     once per session and shared by the files that need it (across xdist workers)
- `keras_saved_model` Path: the Keras trainers' network as a SavedModel (tests/serving/keras_model.py),
                     saved once per session for the files that serve it (across xdist workers)

The emulator's apps (the stand-in and the platform for the emulator) come from the synth cache
(dtrain.emulator.synth_cache), keyed by a hash of everything their synth reads: the checkout's
.dtrain/synth-cache, shared with `make demo` and every `dtrain emulate up` the suite starts
(DTRAIN_SYNTH_CACHE, set here unless set already). An unchanged tree is not synthesized again,
in this session or the next; a test that needs a real synth says DTRAIN_SYNTH_CACHE=off.

Under pytest-xdist (`make test`: `-n 3 --dist loadgroup`) each test file stays on one worker and
the tests of the synthesized app share one worker (see `pytest_collection_modifyitems`).

Tests that need a differently configured app call
`dtrain.constructs.synthesis.synthesize(overrides, tmp_path)` (conftest modules are not importable
under --import-mode=importlib; type hints come from there too).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# This checkout's dtrain (and app.py) first, before any other install of it on the path.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
os.environ.setdefault("DTRAIN_SYNTH_CACHE", str(ROOT / ".dtrain" / "synth-cache"))
from dtrain.node_banners import quiet_node_banners  # noqa: E402 - after the path above

quiet_node_banners()

# A shell starts a background job (`make test &`, nohup) with SIGINT ignored, and an ignored
# signal stays ignored across exec, so every `dtrain` a test starts would ignore the Ctrl-C the
# hostile and local tests send it (as Python leaves an inherited SIG_IGN alone). With a handler
# here, the children start with SIGINT at its default, as from a terminal, however the suite was
# launched (xdist workers load this file too).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Open MPI busy-polls while a rank waits for another, unless it knows the node is oversubscribed:
# then it yields the processor (mpi_yield_when_idle, "will default to 1 when oversubscribing
# nodes", ompi/runtime/ompi_mpi_params.c). The suite's MPI jobs always are: two cores shared by
# every worker's jobs, each simulated host's mpirun counting the machine's cores as its own. A
# Horovod rank whose peer waits for a core spun in Open MPI's progress loop (a quarter of the
# ranks' CPU in a profile of test_train_hvd_keras); yielding, the run took ~25% less CPU. Local
# mode's hosts inherit this environment (dtrain/local/entry_chain.py), and so do the training
# tests' bare mpiruns (tests/training/conftest.py job_env); mpirun hands it to every rank.
os.environ.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")

if TYPE_CHECKING:
    from aws_cdk import App, cx_api
    from aws_cdk.assertions import Template

    from dtrain.constructs.platform import DtrainPlatform
    from dtrain.constructs.synthesis import SynthesizedApp
    from tests.example_runs import ExampleRuns

# The CDK (and its Node.js runtime) is imported inside the fixtures, not here: this conftest is
# loaded for every test folder, and most of them never synthesize anything.


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


@pytest.fixture(scope="session")
def synthesized_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    from dtrain.constructs.synthesis import synthesize

    return synthesize(None, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def app(synthesized_app: SynthesizedApp) -> App:
    return synthesized_app.app


@pytest.fixture(scope="session")
def platform(synthesized_app: SynthesizedApp) -> DtrainPlatform:
    return synthesized_app.platform


@pytest.fixture(scope="session")
def cloud_assembly(synthesized_app: SynthesizedApp) -> cx_api.CloudAssembly:
    return synthesized_app.assembly


@pytest.fixture(scope="session")
def templates(synthesized_app: SynthesizedApp) -> dict[str, Template]:
    return synthesized_app.templates


@pytest.fixture(scope="session")
def template_files(synthesized_app: SynthesizedApp) -> dict[str, Path]:
    return synthesized_app.template_files


@pytest.fixture(scope="session")
def template_dicts(synthesized_app: SynthesizedApp) -> dict[str, dict[str, Any]]:
    return synthesized_app.template_dicts


def _shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory of this run that every xdist worker sees (their base temps are siblings)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


@pytest.fixture(scope="session")
def synth_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dtrain.emulator.synth_cache import cache_dir

    # DTRAIN_SYNTH_CACHE=off for the run: the tests of the cache itself still get one, this run's.
    return cache_dir() or _shared_dir(tmp_path_factory, "synth-cache")


@pytest.fixture(scope="session")
def standin_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dtrain.emulator.fixtures import standin_assembly_once

    return standin_assembly_once(_shared_dir(tmp_path_factory, "standin-app"))


@pytest.fixture(scope="session")
def emulator_app_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dtrain.emulator.fixtures import synthesized_once
    from dtrain.emulator.platform_app import synth_for_emulator

    return synthesized_once(_shared_dir(tmp_path_factory, "emulator-app"), synth_for_emulator)


@pytest.fixture(scope="session")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> ExampleRuns:
    """Each example's tiny `dtrain local` run, made once per session (tests/example_runs.py):
    the examples' own tests and the serving tests share it, across xdist workers."""
    from tests.example_runs import ExampleRuns

    return ExampleRuns(_shared_dir(tmp_path_factory, "example-runs"))


@pytest.fixture(scope="session")
def keras_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Keras trainers' network as a SavedModel, saved once per session for the files that
    serve it, across xdist workers (tests/serving/keras_model.py)."""
    from tests.serving.keras_model import keras_saved_model

    return keras_saved_model(_shared_dir(tmp_path_factory, "keras-model"))


# -- pytest-xdist grouping -----------------------------------------------------------------------
# With `--dist loadgroup`, the tests of one xdist_group run on one worker, in collection order.
# Every test file is a group of its own (its module-scoped emulators, syntheses and processes are
# set up once), and the files with a test that uses the session's synthesized CDK app (or the
# team example's, IN_PROCESS_APPS) form one group, so the app is synthesized once per run, not
# once per worker. The groups with the most
# slow tests are handed out first, so the long ones do not start last and leave one worker
# running alone at the end. Files added later get the same treatment; a test may still name its
# own group with @pytest.mark.xdist_group("...").
CDK_APP_GROUP = "cdk-app"
# Session fixtures that synthesize a whole app in-process: their files share the group's worker,
# whose CDK runtime (a jsii kernel: its first synth costs 8-17 CPU-s, a later one a few) is then
# started once. team_app: the team example's own tests (examples/platform_app/tests/conftest.py).
IN_PROCESS_APPS = frozenset({"synthesized_app", "team_app"})
_GROUP = pytest.StashKey[str]()  # an item's group name


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not an xdist worker: nothing to distribute
        return
    app_files = {item.path for item in items if IN_PROCESS_APPS & set(getattr(item, "fixturenames", ()))}
    slow_in_group: dict[str, int] = {}
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is None:
            group = CDK_APP_GROUP if item.path in app_files else item.nodeid.split("::", 1)[0]
            item.add_marker(pytest.mark.xdist_group(group))
        else:
            group = str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        slow = item.get_closest_marker("slow") is not None
        slow_in_group[group] = slow_in_group.get(group, 0) + slow
        item.stash[_GROUP] = group
    # A stable sort: every worker collects the same order (xdist checks), each file keeps its own.
    items.sort(key=lambda item: -slow_in_group[item.stash[_GROUP]])


FAKE_REGION = "us-east-1"


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region for boto3 clients against moto or the emulator: never a real
    account's (moto answers every call in-process)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": FAKE_REGION,
    }.items():
        monkeypatch.setenv(name, value)
