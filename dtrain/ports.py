"""Loopback ports for a server we start next: `free_port()` picks one, `bind_error()` checks a chosen one.

The one source for both: the model servers (TorchServe, the TF model server, gunicorn), the
emulator's port checks, and the tests and benchmarks that start a server on a port they pick
(torchrun's rendezvous, `dtrain emulate up --port`). Standard library only, so every layer may
use it.

Why not bind port 0 and release it: the kernel hands out port 0 from its ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default on Linux), the pool it also
draws every outgoing connection's local port from and every listener's that asks for port 0
(Open MPI, gloo, the suite's own test servers, another worker picking the same way). Linux
(4.6 on) gives bind(0) odd ports and connect() even ones while even ones last, so the other
listeners are the likelier taker, and a released port comes back to the next bind(0) as readily
as any (benchmarks/port_picks.py: of 2,000 bind(0) picks in one process, all odd and 1,862-1,873
distinct; 300 connections, all even). Between our release and the server's bind (seconds:
gunicorn binds only once the TF model server has loaded its models) the port may be taken, and
the server fails to bind.
Below the ephemeral range no kernel choice lands, neither a connection's nor a port-0
listener's; picked at random (from os.urandom, so a test that seeds `random` cannot make
parallel workers pick alike) among some seventeen thousand, another process picking the same
way at the same time almost never takes the same one; this process never hands one out twice
in a row of 256; and the bind check skips any port already held.
"""

from __future__ import annotations

import collections
import errno
import random
import socket
import threading
from pathlib import Path

LOOPBACK = "127.0.0.1"
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Linux's default lower bound (and below macOS's 49152), where the range cannot be read.
DEFAULT_EPHEMERAL_LOW = 32768
# Below this are the ports fixed services tend to use (8080, 5000, 9000...); above it, up to the
# ephemeral range, only a process that asks for a port by number gets one.
PICK_FLOOR = 15000
# Fewer candidates than this (an ephemeral range widened down to the floor): the kernel's port 0.
MIN_CANDIDATES = 1000
ATTEMPTS = 200

_random = random.SystemRandom()
# Ports this process handed out lately whose server may not have bound yet: never given twice.
_recent: collections.deque[int] = collections.deque(maxlen=256)
_recent_lock = threading.Lock()


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def bind_error(port: int, host: str = LOOPBACK, *, reuse_address: bool = True) -> OSError | None:
    """Why a server could not listen on host:port now; None where it could.

    `reuse_address`: probe with SO_REUSEADDR, as the servers we start bind (werkzeug, gunicorn,
    Java's ServerSocket on Linux), so a port whose last connection lingers in TIME_WAIT counts
    as free, as it is to them."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if reuse_address:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def free_port(host: str = LOOPBACK) -> int:
    """A port on `host` nothing listens on, below the ephemeral range, for a server started next."""
    high = _ephemeral_low()
    if high - PICK_FLOOR < MIN_CANDIDATES:
        return _kernel_port(host)
    for _ in range(ATTEMPTS):
        port = _random.randrange(PICK_FLOOR, high)
        with _recent_lock:
            if port in _recent:
                continue
            # Without SO_REUSEADDR: a port with connections left in TIME_WAIT is passed over too.
            if bind_error(port, host, reuse_address=False) is None:
                _recent.append(port)
                return port
    raise OSError(
        errno.EADDRINUSE, f"no free port on {host} in {PICK_FLOOR}-{high - 1} after {ATTEMPTS} tries"
    )


def _kernel_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
