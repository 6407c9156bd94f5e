"""Generated bad specs: every field of a good spec, one hostile value at a time, through
`dtrain validate` in-process. Each must be refused with exit 2, every stderr line naming the
field it is about (a dotted path of the spec), short, and no traceback; none may hang."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.support import Outcome

GOOD: dict[str, Any] = {
    "framework": "pytorch",
    "job_name": "hostile-values",
    "estimator": {
        "entry_point": "train_ddp.py",
        "image_uri": "ddp",
        "instance_type": "ml.g5.xlarge",
        "instance_count": 2,
        "distribution": {"torch_distributed": {"enabled": True}},
        "hyperparameters": {"epochs": 1},
        "max_run": 3600,
        "volume_size": 30,
    },
    "inputs": {"train": "s3://dtrain-example-data/cifar10/train"},
}


def _deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


HOSTILE_VALUES: dict[str, object] = {
    "null": None,
    "bool": True,
    "negative": -1,
    "huge-int": 10**400,
    "huge-string": "x" * 100_000,
    "newline": "a\nb",
    "long-list": list(range(1000)),
    "deep-object": _deep(40),
    "float": 1.5,
}

FIELDS = [
    ("framework",),
    ("job_name",),
    ("estimator", "entry_point"),
    ("estimator", "instance_type"),
    ("estimator", "instance_count"),
    ("estimator", "distribution"),
    ("estimator", "hyperparameters"),
    ("estimator", "volume_size"),
    ("inputs",),
    ("inputs", "train"),
]
# (field, value) pairs that are valid after all: null means "not set" for optional fields; a
# 40-level object is a valid hyperparameter value (JSON-encoded well under 2,500 characters).
ACCEPTED = {
    ("estimator.hyperparameters", "null"),
    ("estimator.distribution", "null"),
    ("estimator.volume_size", "null"),
    ("estimator.hyperparameters", "deep-object"),
    ("job_name", "null"),
    ("inputs", "null"),
}


@pytest.mark.parametrize("value_name", sorted(HOSTILE_VALUES))
@pytest.mark.parametrize("path", FIELDS, ids=lambda p: ".".join(p))
def test_hostile_value_is_refused_naming_its_field(
    cli: Callable[..., Outcome], tmp_path: Path, path: tuple[str, ...], value_name: str
) -> None:
    field = ".".join(path)
    spec = json.loads(json.dumps(GOOD))
    target = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = HOSTILE_VALUES[value_name]
    file = tmp_path / "spec.json"
    file.write_text(json.dumps(spec))
    outcome = cli("validate", str(file))
    if (field, value_name) in ACCEPTED:
        assert outcome.code in (0, 2) and "Traceback" not in outcome.stderr
        return
    assert outcome.code == 2, f"{field}={value_name} accepted: {outcome.stdout}"
    assert "Traceback" not in outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert lines
    for line in lines:
        assert len(line) < 400, line[:200]
        assert line.startswith(path[0]), line[:200]
