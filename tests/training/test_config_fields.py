"""common.config_fields: a trainer's config read from its hyperparameters, as both CIFAR trainers read it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from common.cifar_train_config import TrainConfig
from common.config_fields import config_from_hyperparameters
from common.sagemaker_env import ContractError, Hyperparameters


@dataclass(frozen=True)
class Sample:
    epochs: int = 3
    lr: float = 0.1
    deterministic: bool = False
    max_steps: int | None = None
    prewarm: bool | None = None


def test_each_field_is_read_by_its_annotation_with_its_default() -> None:
    assert config_from_hyperparameters(Sample, Hyperparameters({}), at_least_one=()) == Sample()
    read = config_from_hyperparameters(
        Sample,
        Hyperparameters({"epochs": "7", "lr": 1, "deterministic": "true", "max_steps": 5, "prewarm": False}),
        at_least_one=(),
    )
    assert read == Sample(epochs=7, lr=1.0, deterministic=True, max_steps=5, prewarm=False)
    assert isinstance(read.lr, float)


def test_a_value_of_the_wrong_kind_is_named() -> None:
    with pytest.raises(ContractError, match=r"hyperparameters\.epochs.*must be an integer"):
        config_from_hyperparameters(Sample, Hyperparameters({"epochs": 1.5}), at_least_one=())


def test_at_least_one_holds_for_set_fields_only() -> None:
    limited = ("epochs", "max_steps")
    with pytest.raises(ContractError, match=r"hyperparameters\.epochs.*must be at least 1"):
        config_from_hyperparameters(
            Sample, Hyperparameters({"epochs": 0}), at_least_one=("epochs", "max_steps")
        )
    with pytest.raises(ContractError, match=r"hyperparameters\.max_steps.*must be at least 1"):
        config_from_hyperparameters(
            Sample, Hyperparameters({"max_steps": 0}), at_least_one=("epochs", "max_steps")
        )
    unset = config_from_hyperparameters(Sample, Hyperparameters({}), at_least_one=limited)
    assert unset.max_steps is None


def test_a_field_with_no_reader_is_a_programming_error() -> None:
    @dataclass(frozen=True)
    class Odd:
        name: str = "x"

    with pytest.raises(TypeError, match=r"Odd\.name"):
        config_from_hyperparameters(Odd, Hyperparameters({}), at_least_one=())


def test_the_pytorch_trainers_config_keeps_its_names_and_limits() -> None:
    config = TrainConfig.from_hyperparameters(
        Hyperparameters({"batch_size": 64, "label_smoothing": 0, "compile": "false", "max_steps": 3})
    )
    assert (config.batch_size, config.label_smoothing, config.compile, config.max_steps) == (
        64,
        0.0,
        False,
        3,
    )
    assert config.prewarm is None and config.lr == TrainConfig().lr
    with pytest.raises(ContractError, match=r"hyperparameters\.max_steps"):
        TrainConfig.from_hyperparameters(Hyperparameters({"max_steps": 0}))
    with pytest.raises(ContractError, match=r"hyperparameters\.keep_checkpoints"):
        TrainConfig.from_hyperparameters(Hyperparameters({"keep_checkpoints": 0}))
