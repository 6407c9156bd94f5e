"""An emulator's boto3 sessions: its clients made once, one parse of each service model per
process, and boto3's default session given back as it was found (moto clears it at each mock's
start; the emulator gives it the shared model loader for the Lambdas' boto3.client calls)."""

from __future__ import annotations

from pathlib import Path

import boto3

from dtrain.emulator.fixtures import standin_emulator


def test_clients_are_made_once_and_the_default_session_is_put_back(standin_assembly: Path) -> None:
    before = boto3.DEFAULT_SESSION
    with standin_emulator(standin_assembly) as emu:
        assert emu.client("stepfunctions") is emu.client("stepfunctions")
        inside = boto3.DEFAULT_SESSION
        assert inside is not None and inside is not before
        loader = emu.session._session.get_component("data_loader")
        assert inside._session.get_component("data_loader") is loader
        # A client of the default session reaches this emulator's moto, as the Lambdas' do.
        assert boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    assert boto3.DEFAULT_SESSION is before
