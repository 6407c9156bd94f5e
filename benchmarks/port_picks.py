"""Where the kernel's port choices land, against dtrain.ports.free_port's (the figures in its docstring).

- bind(0) then release, N times in this process: the share of odd ports, how many distinct;
- N connections to a local listener: the share of odd local ports (Linux 4.6 on: connect()
  prefers even ports, bind(0) odd ones);
- free_port N times: how many distinct, the lowest and highest, and the ephemeral range.

Run: .venv/bin/python benchmarks/port_picks.py [--picks 2000] [--connections 300]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path

from dtrain import ports


def kernel_pick() -> int:
    with socket.socket() as probe:
        probe.bind((ports.LOOPBACK, 0))
        return int(probe.getsockname()[1])


def connection_ports(count: int) -> list[int]:
    found = []
    with socket.socket() as server:
        server.bind((ports.LOOPBACK, 0))
        server.listen(count)
        for _ in range(count):
            with socket.create_connection(server.getsockname()) as client:
                found.append(client.getsockname()[1])
                server.accept()[0].close()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=300)
    args = parser.parse_args()
    binds = [kernel_pick() for _ in range(args.picks)]
    connects = connection_ports(args.connections)
    ours = [ports.free_port() for _ in range(args.picks)]
    figures = {
        "kernel": os.uname().release,
        "ip_local_port_range": Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split(),
        "bind0_picks": len(binds),
        "bind0_odd_share": sum(p % 2 for p in binds) / len(binds),
        "bind0_distinct": len(set(binds)),
        "connections": len(connects),
        "connect_odd_share": sum(p % 2 for p in connects) / len(connects),
        "free_port_distinct": len(set(ours)),
        "free_port_range": [min(ours), max(ours)],
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
