"""Hostile spec files against every command that reads one: one line naming the file and the
cause, exit 2, fast (an alias bomb is refused while it is composed, never expanded)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.support import Outcome

GOOD = {
    "framework": "pytorch",
    "estimator": {"entry_point": "train_ddp.py", "image_uri": "ddp", "instance_type": "ml.g5.xlarge",
                  "instance_count": 2, "hyperparameters": {"epochs": 1}},
}  # fmt: skip


def _alias_bomb(inside_hyperparameters: bool) -> str:
    """Nine nested aliases of nine: 9**9 values once expanded, 90 lines of YAML."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    if not inside_hyperparameters:
        return "\n".join(lines) + "\n"
    body = "\n".join("      " + line for line in lines)
    return (
        "framework: pytorch\nestimator:\n  entry_point: train_ddp.py\n  image_uri: ddp\n"
        f"  instance_type: ml.g5.xlarge\n  instance_count: 2\n  hyperparameters:\n    bomb:\n{body}\n"
    )


# name -> (file name, bytes, words the one error line must hold)
BAD_FILES: dict[str, tuple[str, bytes, tuple[str, ...]]] = {
    "alias-bomb-top": ("bomb.yaml", _alias_bomb(False).encode(), ("alias",)),
    "alias-bomb-hyperparameters": ("bomb.yaml", _alias_bomb(True).encode(), ("alias",)),
    "yaml-duplicate-key": (
        "dup.yaml",
        b"framework: pytorch\nframework: tensorflow\n",
        ("'framework'", "twice"),
    ),
    "json-duplicate-key": (
        "dup.json",
        json.dumps(GOOD)[:-1].encode() + b', "framework": "tensorflow"}',
        ("'framework'", "twice"),
    ),
    "json-deep-10000": ("deep.json", b"[" * 10000 + b"]" * 10000, ("nested deeper",)),
    "yaml-deep-10000": ("deep.yaml", b"[" * 10000 + b"]" * 10000, ("nested deeper",)),
    "json-deep-100": ("deep.json", b'{"framework": ' + b"[" * 100 + b"]" * 100 + b"}", ("nested deeper",)),
    "json-not-utf8": ("bad.json", b'{"framework": "py\xfftorch"}', ("UTF-8", "0xff")),
    "yaml-not-utf8": ("bad.yaml", b"framework: \xc3\x28\n", ("UTF-8",)),
    "json-latin1-bom": ("bad.json", b"\xff\xfe{}", ("UTF-8",)),
    "json-syntax": ("bad.json", b'{"framework": }', ("not valid JSON", "line 1")),
    "yaml-syntax": ("bad.yaml", b"framework: [pytorch\n", ("not valid YAML",)),
    "yaml-python-tag": (
        "bad.yaml",
        b"framework: !!python/object/apply:os.system [echo]\n",
        ("not valid YAML",),
    ),
    "yaml-unhashable-key": ("bad.yaml", b"? [a, b]\n: 1\n", ("not valid YAML",)),
    "empty": ("empty.json", b"", ("not valid JSON",)),
    "top-level-list": ("list.json", b"[1, 2]", ("one JSON/YAML object",)),
    "too-large": ("big.json", b'{"framework": "' + b"x" * (1024 * 1024 + 10) + b'"}', ("larger than",)),
}

SPEC_COMMANDS: dict[str, Callable[[Path], tuple[str, ...]]] = {
    "validate": lambda p: ("validate", str(p)),
    "render": lambda p: ("render", str(p)),
    "estimate": lambda p: ("estimate", str(p)),
    "local": lambda p: ("local", str(p), "--workdir", str(p.parent / "work")),
    "submit": lambda p: ("submit", str(p)),
}

# submit lists the spec's errors, then says that nothing was sent.
TRAILERS = {"submit": "nothing was submitted"}


@pytest.mark.parametrize("command", sorted(SPEC_COMMANDS))
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_hostile_spec_file_is_one_line_exit_2(
    cli: Callable[..., Outcome], tmp_path: Path, command: str, case: str
) -> None:
    name, data, needles = BAD_FILES[case]
    spec = tmp_path / name
    spec.write_bytes(data)
    outcome = cli(*SPEC_COMMANDS[command](spec))
    outcome.one_line_error(2, name, *needles, trailer=TRAILERS.get(command))


@pytest.mark.parametrize("command", sorted(SPEC_COMMANDS))
@pytest.mark.parametrize("what", ["missing", "directory"])
def test_unreadable_spec_path_is_one_line_exit_2(
    cli: Callable[..., Outcome], tmp_path: Path, command: str, what: str
) -> None:
    spec = tmp_path / "spec.json"
    if what == "directory":
        spec.mkdir()
    outcome = cli(*SPEC_COMMANDS[command](spec))
    # submit refuses a path that is not a file before reading it: one line, no trailer.
    outcome.one_line_error(2, "spec.json", "spec file")
