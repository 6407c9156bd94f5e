"""A trainer's hyperparameter dataclass filled from SageMaker's hyperparameters, field by field.

Each field is read under its own name with the getter its annotation names, its default the
dataclass's; the PyTorch and Keras CIFAR-10 trainers' configurations are both read this way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from common.sagemaker_env import ContractError, Hyperparameters

Config = TypeVar("Config")

# Annotations as written (the config modules use `from __future__ import annotations`, so they
# arrive as strings, and need no newer Python than the image's to evaluate).
_READERS: dict[str, Callable[[Hyperparameters, str, Any], object]] = {
    "int": lambda hps, name, default: hps.get_int(name, default),
    "float": lambda hps, name, default: hps.get_float(name, default),
    "bool": lambda hps, name, default: hps.get_bool(name, default),
    "int | None": lambda hps, name, _default: hps.optional_int(name),
    "bool | None": lambda hps, name, _default: hps.optional_bool(name),
}


def config_from_hyperparameters(
    cls: type[Config], hps: Hyperparameters, at_least_one: Iterable[str]
) -> Config:
    """``cls`` with each field read from ``hps``; the fields named in ``at_least_one`` must be at
    least 1 when set (ContractError names the first that is not)."""
    values: dict[str, object] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        reader = _READERS.get(str(field.type))
        if reader is None:
            raise TypeError(f"{cls.__name__}.{field.name}: no hyperparameter reader for {field.type}")
        values[field.name] = reader(hps, field.name, field.default)
    config = cls(**values)
    for name in at_least_one:
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ContractError(f"hyperparameters.{name}", value, "must be at least 1")
    return config
