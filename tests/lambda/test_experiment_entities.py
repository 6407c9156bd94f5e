"""Submit creates (or adopts) the experiment and trial a job's ExperimentConfig names before the
job: SageMaker refuses a job naming ones that do not exist (dtrain.orchestration.experiment_entities)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dtrain.orchestration.experiment_entities import already_exists, ensure_experiment_entities


def _error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateExperiment")


class _Recording:
    """A SageMaker client whose creates answer from `answers` (by method, an error or None)."""

    def __init__(self, **answers: ClientError | None) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __getattr__(self, method: str) -> Any:
        def call(**kwargs: str) -> dict[str, str]:
            self.calls.append((method, kwargs))
            answer = self.answers.get(method)
            if answer is not None:
                raise answer
            return {}

        return call


def test_the_experiment_then_its_trial_are_created_before_the_job() -> None:
    sm = _Recording()
    created = ensure_experiment_entities(sm, {"ExperimentName": "cifar10", "TrialName": "t1", "RunName": "r"})
    assert sm.calls == [
        ("create_experiment", {"ExperimentName": "cifar10"}),
        ("create_trial", {"TrialName": "t1", "ExperimentName": "cifar10"}),
    ]
    assert created == ["experiment cifar10", "trial t1"]


@pytest.mark.parametrize(
    "exists",
    [
        _error("ValidationException", "Experiment 'arn:aws:sagemaker:r:1:experiment/c' already exists."),
        _error("ResourceInUse", "in use"),
    ],
)
def test_an_experiment_someone_else_created_first_is_adopted(exists: ClientError) -> None:
    """A sweep's items create its one experiment concurrently: all but one are told it exists."""
    sm = _Recording(create_experiment=exists, create_trial=exists)
    assert ensure_experiment_entities(sm, {"ExperimentName": "cifar10", "TrialName": "t1"}) == []
    assert [m for m, _ in sm.calls] == ["create_experiment", "create_trial"]


@pytest.mark.parametrize(
    "refused",
    [
        _error("ValidationException", "1 validation error detected: Value at 'experimentName'"),
        _error("AccessDeniedException", "not authorized to perform: sagemaker:CreateExperiment"),
        _error("ResourceLimitExceeded", "The account-level service limit 'Total number of experiments'"),
    ],
)
def test_any_other_refusal_fails_the_submit(refused: ClientError) -> None:
    assert not already_exists(refused)
    with pytest.raises(ClientError):
        ensure_experiment_entities(_Recording(create_experiment=refused), {"ExperimentName": "cifar10"})


@pytest.mark.parametrize("config", [None, {}, {"TrialComponentDisplayName": "x"}, {"TrialName": "existing"}])
def test_nothing_is_created_without_an_experiment_name(config: dict[str, str] | None) -> None:
    """A TrialName alone must name an existing trial: CreateTrial needs its experiment."""
    sm = _Recording()
    assert ensure_experiment_entities(sm, config) == [] and sm.calls == []


def test_concurrent_creates_of_one_experiment_all_succeed_against_the_emulator(aws: Any) -> None:
    """Eight Submits of one sweep race to create its experiment and trial: one creates each, the
    others adopt them (the emulator answers a name in use as SageMaker does)."""
    sm = boto3.client("sagemaker", region_name="us-east-1")
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            config = {"ExperimentName": "sweep-1", "TrialName": "sweep-1-t"}
            results.append(ensure_experiment_entities(sm, config))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(e for created in results for e in created) == ["experiment sweep-1", "trial sweep-1-t"]
    assert sm.describe_trial(TrialName="sweep-1-t")["ExperimentName"] == "sweep-1"
