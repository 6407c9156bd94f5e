"""Helpers of the training-code tests that module-level functions need (fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from dtrain.local.entry_chain import image_toolkit_bin, start_chain
from dtrain.local.host_network import HostNetwork


def wait_for(predicate: Callable[[], Any], what: str, limit: float = 240.0) -> Any:
    """`predicate()`'s first truthy value, polled every 50 ms; AssertionError after `limit` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def script_job_dirs(root: Path, entry_point: str, script: str) -> Path:
    """A job's code folder under `root` holding `script` as `entry_point`, and an empty data
    folder beside it (`root / "data"`), as the entry-chain tests give each job; the code folder."""
    code = root / "code"
    code.mkdir()
    (code / entry_point).write_text(script)
    (root / "data").mkdir()
    return code


def start_host_chains(
    image: str, bases: list[Path], hosts: list[str], network: HostNetwork, log_dir: Path, **chain: Any
) -> tuple[list[subprocess.Popen[str]], list[IO[str]]]:
    """One entry chain per host of `hosts`, each in its namespace of `network`, writing
    `log_dir / <host>.log`: the chains and their open logs (the caller waits and closes)."""
    logs = [open(log_dir / f"{host}.log", "w") for host in hosts]  # noqa: SIM115
    chains = [
        start_chain(
            image, base, toolkit_bin=image_toolkit_bin(image), hostname=host, hosts=hosts,
            output=log, network=network, **chain,
        )
        for host, base, log in zip(hosts, bases, logs, strict=True)
    ]  # fmt: skip
    return chains, logs
