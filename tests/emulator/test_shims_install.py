"""The shims patch moto's classes through class_patches, the emulator's one patch-and-restore
mechanism (shims.installed had its own copy of the loop): every class is restored on leaving the
block, and also when an installer fails midway (the copy restored nothing then)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction
from moto.events.models import Rule

from dtrain.emulator import class_patches, shims
from dtrain.emulator.sagemaker import EventPlaybackBackend
from dtrain.emulator.shims import LambdaRuntime, Shims, installed

_ABSENT = object()


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str, Any]]:
    """Each (owner, name, what the owner's own __dict__ held) that shims patch through class_patches."""
    seen: list[tuple[Any, str, Any]] = []

    @contextmanager
    def recording() -> Iterator[class_patches.Patch]:
        with class_patches.class_patches() as patch:

            def record(owner: Any, name: str, value: Any) -> None:
                seen.append((owner, name, owner.__dict__.get(name, _ABSENT)))
                patch(owner, name, value)

            yield record

    monkeypatch.setattr(shims, "class_patches", recording)
    return seen


def _shims(workdir: Path) -> Shims:
    return Shims(runtime=LambdaRuntime(workdir=workdir), sagemaker_backend=EventPlaybackBackend())


def _restored(seen: list[tuple[Any, str, Any]]) -> bool:
    # An attribute two installers wrap in turn (CloudFormation's execute_change_set: the change
    # sets' rollback, then their execution as AWS runs them) is back to what it held before the
    # first of them; the second one's "before" was the first one's wrapper.
    first: dict[tuple[int, str], tuple[Any, str, Any]] = {}
    for owner, name, before in seen:
        first.setdefault((id(owner), name), (owner, name, before))
    return all(owner.__dict__.get(name, _ABSENT) is before for owner, name, before in first.values())


def test_every_shim_patches_through_class_patches_and_is_restored(
    recorded: list[tuple[Any, str, Any]], tmp_path: Path
) -> None:
    invoke, send = LambdaFunction.__dict__["invoke"], Rule.__dict__["send_to_targets"]
    with installed(_shims(tmp_path)):
        patched = {(owner.__name__, name) for owner, name, _ in recorded}
        assert {("LambdaFunction", "invoke"), ("Rule", "send_to_targets")} <= patched
        assert ("SageMakerModelBackend", "create_training_job") in patched
        assert len(patched) >= 15  # Lambda, Step Functions, EventBridge, SageMaker, KMS, gates, deploy
        assert LambdaFunction.__dict__["invoke"] is not invoke
    assert (LambdaFunction.__dict__["invoke"], Rule.__dict__["send_to_targets"]) == (invoke, send)
    assert _restored(recorded)


def test_an_installer_that_fails_leaves_moto_as_it_was(
    recorded: list[tuple[Any, str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def failing(patch: class_patches.Patch) -> None:
        raise RuntimeError("installer failed")

    monkeypatch.setattr(
        shims, "_install_kms", failing
    )  # after Lambda, Step Functions, EventBridge, SageMaker
    services = _shims(tmp_path)
    with pytest.raises(RuntimeError, match="installer failed"), installed(services):
        pass
    assert recorded, "the installers before the failing one patched nothing"
    assert _restored(recorded)
    assert services.delivery._shutdown  # the event delivery pool is shut down as well


def test_one_patch_brings_job_creates_to_the_backend() -> None:
    """Training and processing Creates reach the backend through job_creates alone: no other
    module keeps the request as sent or asks the backend's rate (each shim wrote both before)."""
    import ast
    from pathlib import Path

    emulator = Path(shims.__file__).parent
    askers = set()
    for path in sorted(emulator.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(".admit_create"):
                askers.add(path.name)
    assert askers == {"job_creates.py"}
