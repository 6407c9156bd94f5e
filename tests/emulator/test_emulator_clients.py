"""The emulator's clients (Emulator.client): one per service, made once even when threads ask at
the same moment (its session, which makes them, is not thread-safe; a client is), and given up
when the emulator closes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dtrain.emulator.fixtures import standin_emulator


def test_one_client_per_service_even_when_threads_ask_together(standin_assembly: Path) -> None:
    with standin_emulator(standin_assembly) as emu:
        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(lambda _: emu.client("stepfunctions"), range(16)))
        assert all(client is made[0] for client in made)
        assert emu.client("dynamodb") is not made[0]
        # The kept client reaches this emulator (its moto), from any thread.
        assert made[0].list_state_machines()["stateMachines"]
    assert emu._clients == {}
