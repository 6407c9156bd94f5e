"""`dtrain local`'s hosts: one network namespace each for a multi-host job, none needed for one
host, and nothing of a job left (namespaces, bridge, sshd, processes) however dtrain ends.

A machine without network namespaces is simulated by an `unshare` on PATH that refuses
`--net` (as a kernel without them, or an unprivileged user without user namespaces, does) and
otherwise runs the real one: the detection (host_network.namespaces_missing) and the launch
(entry_chain.chain_argv) both go through it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtrain.jobspec.spec import parse_spec
from dtrain.local.host_network import NETNS_DIR
from dtrain.local.job import LocalTrainingJob
from dtrain.local.platform import local_platform_settings
from dtrain.requests.training_request import build_training_job_request

REFUSING_UNSHARE = """#!/bin/sh
for word in "$@"; do
  if [ "$word" = "--net" ]; then echo "unshare: unshare failed: Operation not permitted" >&2; exit 1; fi
done
exec {real} "$@"
"""
# Names its host and its network namespace; runs on while its code folder holds `hold`.
SHOW_HOST = """
import os, socket, sys, time
me = socket.gethostname()
print(f"host {me} interfaces {sorted(name for _, name in socket.if_nameindex())}", flush=True)
print(f"host {me} netns {os.stat('/proc/self/ns/net').st_ino}", flush=True)
while os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hold")):
    print(f"holding {me}", flush=True)
    time.sleep(1)
"""


def _job(
    tmp_path: Path, *, hosts: int, distribution: str | None = None, hold: bool = False
) -> LocalTrainingJob:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "show_host.py").write_text(SHOW_HOST)
    if hold:
        (code / "hold").write_text("")
    estimator = {"entry_point": "show_host.py", "source_dir": str(code), "image_uri": "ddp",
                 "instance_type": "ml.m5.large", "instance_count": hosts}  # fmt: skip
    if distribution:
        estimator["distribution"] = {distribution: {"enabled": True}}
    spec = parse_spec({"framework": "pytorch", "job_name": "hosts", "estimator": estimator})
    request = build_training_job_request(spec, local_platform_settings())
    return LocalTrainingJob(request, workdir=tmp_path / "work", code_dir=code)


@pytest.fixture
def no_netns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's PATH finds an `unshare` that refuses network namespaces."""
    real = shutil.which("unshare")
    assert real is not None
    bin_dir = tmp_path / "no-netns-bin"
    bin_dir.mkdir()
    (bin_dir / "unshare").write_text(REFUSING_UNSHARE.format(real=real))
    (bin_dir / "unshare").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_without_network_namespaces_a_multi_host_job_is_refused_in_one_line(
    tmp_path: Path, no_netns: None
) -> None:
    result = _job(tmp_path, hosts=2).run()
    assert result.status == "Failed"
    assert result.failure_reason is not None and "\n" not in result.failure_reason
    assert result.failure_reason.startswith(
        "ClientError: 2 simulated hosts need a network namespace each and this kernel or user may not "
        "create network namespaces (unshare: unshare failed: Operation not permitted); run with --hosts 1"
    )


@pytest.mark.slow
def test_without_network_namespaces_one_host_still_runs_the_real_chain(
    tmp_path: Path, no_netns: None
) -> None:
    """~5 s: the ddp image's toolkit runs the script, on this machine's network."""
    job = _job(tmp_path, hosts=1)
    result = job.run()
    log = job.layout.log_file("algo-1").read_text()
    assert result.status == "Completed", log[-2000:]
    assert "sagemaker-training-toolkit" in log  # the toolkit ran the script
    # The host is named algo-1 (its UTS namespace) and uses this machine's network.
    assert f"host algo-1 netns {os.stat('/proc/self/ns/net').st_ino}" in log, log[-2000:]


@pytest.mark.slow
def test_each_host_of_a_job_has_its_own_name_and_network(tmp_path: Path) -> None:
    """~10 s: two hosts' chains; each is alone in its namespace with lo and eth0."""
    job = _job(tmp_path, hosts=2)
    result = job.run()
    logs = {host: job.layout.log_file(host).read_text() for host in ("algo-1", "algo-2")}
    assert result.status == "Completed", {h: t[-1500:] for h, t in logs.items()}
    for host, text in logs.items():
        assert f"host {host} interfaces ['eth0', 'lo']" in text, text[-1500:]
    assert not [p for p in NETNS_DIR.glob(f"dtrain-{job.run_id[:12]}-*")]


def _in_namespaces(inodes: set[int]) -> list[int]:
    """Processes whose network namespace is one of `inodes`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino in inodes:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _marked(run_id: str) -> list[int]:
    needle = f"DTRAIN_LOCAL_RUN={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_to_dtrain_leaves_no_namespace_bridge_sshd_or_process(tmp_path: Path) -> None:
    """A two-host MPI job (the toolkit starts sshd on both hosts, the master's mpirun reaches algo-2
    over ssh) whose ranks never end; dtrain gets SIGKILL. Its reaper must end every process of
    the run, inside the hosts' namespaces too, and delete the namespaces (the bridge's with
    them). Slow (~30 s): two chains, the toolkit's ssh wait."""
    request = dict(_job(tmp_path, hosts=2, distribution="pytorchddp", hold=True).request)
    (tmp_path / "request.json").write_text(json.dumps(request))
    driver = (
        "import json, sys; from pathlib import Path; from dtrain.local.job import LocalTrainingJob; "
        f"job = LocalTrainingJob(json.loads(Path({str(tmp_path / 'request.json')!r}).read_text()), "
        f"workdir=Path({str(tmp_path / 'work')!r}), code_dir=Path({str(tmp_path / 'code')!r})); "
        "print(job.run_id, flush=True); job.run()"
    )
    dtrain = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    assert dtrain.stdout is not None
    run_id = dtrain.stdout.readline().strip()
    log = tmp_path / "work" / "jobs" / str(request["TrainingJobName"]) / "logs" / "algo-1.log"
    deadline = time.monotonic() + 200
    while not (log.exists() and "holding algo-2" in log.read_text()):
        assert dtrain.poll() is None and time.monotonic() < deadline, (
            log.read_text()[-2000:] if log.exists() else ""
        )
        time.sleep(0.2)
    names = sorted(NETNS_DIR.glob(f"dtrain-{run_id[:12]}-*"))
    assert len(names) == 3  # algo-1, algo-2, the bridge's
    inodes = {p.stat().st_ino for p in names}
    inside = _in_namespaces(inodes)
    commands = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in inside}
    assert "sshd" in commands, commands

    dtrain.kill()
    dtrain.wait()
    deadline = time.monotonic() + 60
    while _marked(run_id) or _in_namespaces(inodes) or list(NETNS_DIR.glob(f"dtrain-{run_id[:12]}-*")):
        assert time.monotonic() < deadline, (_marked(run_id), _in_namespaces(inodes))
        time.sleep(0.5)
