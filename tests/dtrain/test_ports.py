"""dtrain.ports: a free loopback port is picked below the kernel's ephemeral range, never one held."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dtrain import ports


def test_a_free_port_lies_below_the_ephemeral_range_and_a_server_can_listen_on_it() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        port = ports.free_port()
        assert ports.PICK_FLOOR <= port < low
        with socket.socket() as server:
            server.bind((ports.LOOPBACK, port))
            server.listen()


def test_a_port_handed_out_lately_is_not_handed_out_again() -> None:
    picked = [ports.free_port() for _ in range(100)]
    assert len(set(picked)) == 100


def test_a_held_port_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind((ports.LOOPBACK, 0))
        held.listen()
        taken = held.getsockname()[1]
        # The held port is offered first, then random ones as usual: the bind check must skip it.
        offered: list[int] = []
        randrange = ports._random.randrange

        def offer(low: int, high: int) -> int:
            offered.append(taken if not offered else randrange(low, high))
            return offered[-1]

        monkeypatch.setattr(ports._random, "randrange", offer)
        monkeypatch.setattr(ports, "_ephemeral_low", lambda: 65536)
        assert ports.free_port() != taken
        assert offered[0] == taken


def test_bind_error_names_why_a_port_is_taken_and_none_for_a_free_one() -> None:
    with socket.socket() as held:
        held.bind((ports.LOOPBACK, 0))
        held.listen()
        error = ports.bind_error(held.getsockname()[1])
        assert error is not None and "in use" in (error.strerror or "")
    assert ports.bind_error(ports.free_port()) is None


def test_an_ephemeral_range_reaching_down_to_the_floor_falls_back_to_the_kernels_choice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ports, "_ephemeral_low", lambda: ports.PICK_FLOOR + 10)
    port = ports.free_port()
    assert port >= ports.PICK_FLOOR + 10 and ports.bind_error(port) is None
