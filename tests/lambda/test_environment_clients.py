"""A Lambda execution environment's SDK clients (dtrain.orchestration.environment_clients): made
once, from a Session of the environment's own (never boto3's default session, which threads must
not share), every session of the process on one botocore data loader."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from dtrain.orchestration.environment_clients import EnvironmentClients, new_session


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def test_an_environment_makes_each_client_once_from_its_own_session() -> None:
    clients = EnvironmentClients()
    default_before = boto3.DEFAULT_SESSION
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: clients.client("stepfunctions"), range(8)))
    assert all(c is made[0] for c in made)
    assert made[0].meta.region_name == "eu-west-1"  # the environment's region, read at first use
    assert clients.ledger("t").client is clients.client("dynamodb")
    assert clients.ledger("t") is not clients.ledger("t")  # a Ledger per invocation
    assert boto3.DEFAULT_SESSION is default_before  # boto3's default session neither made nor used
    assert clients.get("stepfunctions", lambda session: None) is made[0]


def test_two_environments_have_their_own_clients_on_one_model_loader() -> None:
    first, second = EnvironmentClients(), EnvironmentClients()
    assert first.client("sagemaker") is not second.client("sagemaker")
    loaders = {id(s._session.get_component("data_loader")) for s in (first._session, second._session)}
    assert loaders == {id(new_session()._session.get_component("data_loader"))}
    # boto3 adds its data folder to the loader's search path per session: kept once.
    paths = new_session()._session.get_component("data_loader").search_paths
    assert len(paths) == len(set(paths))
