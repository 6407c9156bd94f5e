"""Loopback ports for rendezvous: a free one, or a check that a chosen one is free."""

from __future__ import annotations

import socket

from dtrain.local.errors import LocalModeError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def require_free(port: int, what: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            raise LocalModeError(
                f"{what} port {port} on {LOOPBACK} is in use by another process; "
                "pass a free one with --master-port, or leave it out to pick one"
            ) from None
    return port
