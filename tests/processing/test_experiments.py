"""Sweeps and SageMaker Experiments: every trial its own run under one experiment."""

from __future__ import annotations

from dtrain.jobspec.experiment_config import ENTITY_NAME_RE, sweep_trial_config


def test_each_trial_is_a_run_of_the_experiment_named_after_the_sweep() -> None:
    assert sweep_trial_config(None, sweep_name="lr-sweep", index=3) == {
        "ExperimentName": "lr-sweep",
        "RunName": "lr-sweep-trial-3",
    }


def test_the_specs_experiment_name_wins_and_its_run_name_becomes_per_trial() -> None:
    given = {"ExperimentName": "cifar10", "RunName": "one-run", "TrialComponentDisplayName": "x"}
    assert sweep_trial_config(given, sweep_name="lr-sweep", index=0) == {
        "ExperimentName": "cifar10",
        "TrialComponentDisplayName": "x",
        "RunName": "cifar10-trial-0",
    }


def test_run_names_stay_valid_for_long_sweep_names() -> None:
    config = sweep_trial_config(None, sweep_name="s_" + "x" * 200, index=199)
    for value in config.values():
        assert ENTITY_NAME_RE.fullmatch(value) and len(value) <= 120
