"""`dtrain local`'s hosts: one network namespace each for a multi-host job, none needed for one
host, and nothing of a job left (namespaces, bridge, sshd, processes) however dtrain ends.

A machine without network namespaces is simulated by an `unshare` on PATH that refuses
`--net` (as a kernel without them does) and otherwise runs the real one; a machine without any
namespace, by one that refuses everything (as for a user without user namespaces): the detection
(isolation.detect_isolation) and the launch (entry_chain.chain_argv) both go through it. A
non-root user with user namespaces is real: the chain's set-up runs as uid 65534 (setpriv).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtrain.jobspec.spec import parse_spec
from dtrain.local.config import repo_root
from dtrain.local.entry_chain import chain_command, image_toolkit_bin, prepare_host_tree, small_job
from dtrain.local.errors import LocalModeError
from dtrain.local.host_network import NETNS_DIR
from dtrain.local.isolation import OPT_ML, detect_isolation
from dtrain.local.job import LocalTrainingJob
from dtrain.local.platform import local_platform_settings
from dtrain.requests.training_request import build_training_job_request

REFUSING_UNSHARE = """#!/bin/sh
for word in "$@"; do
  if [ "$word" = "--net" ]; then echo "unshare: unshare failed: Operation not permitted" >&2; exit 1; fi
done
exec {real} "$@"
"""
REFUSING_EVERY_NAMESPACE = """#!/bin/sh
echo "unshare: unshare failed: Operation not permitted" >&2
exit 1
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


def _unshare_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    real = shutil.which("unshare")
    assert real is not None
    bin_dir = tmp_path / "unshare-bin"
    bin_dir.mkdir()
    (bin_dir / "unshare").write_text(script.format(real=real))
    (bin_dir / "unshare").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


@pytest.fixture
def no_netns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's PATH finds an `unshare` that refuses network namespaces."""
    _unshare_on_path(tmp_path, monkeypatch, REFUSING_UNSHARE)


@pytest.fixture
def no_namespaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's PATH finds an `unshare` that refuses every namespace."""
    _unshare_on_path(tmp_path, monkeypatch, REFUSING_EVERY_NAMESPACE)


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


NO_NAMESPACES = (
    "no namespaces for algo-1 (this kernel or user may not create namespaces (unshare: unshare failed: "
    "Operation not permitted)): the image's chain runs on this machine's network and host name, "
    "algo-1 resolves nowhere (SM_STUDIO_LOCAL_MODE=True)"
)


def test_without_any_namespace_a_multi_host_job_is_refused_in_one_line(
    tmp_path: Path, no_namespaces: None
) -> None:
    result = _job(tmp_path, hosts=2).run()
    assert result.status == "Failed"
    assert result.failure_reason == (
        "ClientError: 2 simulated hosts need a network namespace each and this kernel or user may not "
        "create namespaces (unshare: unshare failed: Operation not permitted); run with --hosts 1 "
        "(one host runs without one)"
    )


@pytest.mark.slow
def test_without_any_namespace_one_host_runs_the_real_chain_on_this_machine(
    tmp_path: Path, no_namespaces: None
) -> None:
    """~5 s: the ddp image's toolkit runs the script as a plain process tree: this machine's host
    name and network, and one line saying so (the toolkit skips its wait for algo-1 to resolve)."""
    job = _job(tmp_path, hosts=1)
    result = job.run()
    log = job.layout.log_file("algo-1").read_text()
    assert result.status == "Completed", log[-2000:]
    assert log.splitlines()[0] == f"dtrain local: {NO_NAMESPACES}"
    assert "Bypass DNS check in case of Studio Local Mode execution." in log  # the toolkit's own line
    me = socket.gethostname()
    assert f"host {me} netns {os.stat('/proc/self/ns/net').st_ino}" in log, log[-2000:]


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A folder uid 65534 may use (pytest's own tmp_path is root's alone). The checkout and its
    virtualenvs, which every host keeps visible, must be reachable for that user too, as a user's
    own checkout is: a clone made by `mktemp -d` (CI's) sits in a folder only root may enter, so
    its folders get others' search permission (x) for the test and their modes back after it."""
    folder = Path(tempfile.mkdtemp(prefix="dtrain-nobody-"))
    folder.chmod(0o755)
    kept = {repo_root().resolve(), image_toolkit_bin("ddp").resolve()}
    modes = {d: d.stat().st_mode for path in kept for d in path.parents if not d.stat().st_mode & 0o001}
    for directory, mode in modes.items():
        directory.chmod(mode | 0o001)
    yield folder
    for directory, mode in modes.items():
        directory.chmod(mode)
    shutil.rmtree(folder, ignore_errors=True)


def test_a_non_root_user_gets_one_host_in_user_namespaces_and_several_refused(
    tmp_path: Path, nobody_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Non-root: the detection picks `unshare --user --map-root-user`; the chain's set-up then runs
    as uid 65534 (setpriv), the image's ENTRYPOINT replaced by a shell that shows what the host
    got: its name, root inside, its tree at /opt/ml, its own /tmp and network (lo, eth0)."""
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    isolation = detect_isolation()
    assert isolation.unshare_flags[:2] == ("--user", "--map-root-user")
    with pytest.raises(
        LocalModeError, match=r"^2 simulated hosts need a network namespace each and ip netns "
    ):
        isolation.refuse(2)
    assert isolation.notice("algo-1") is None

    # The host's tree is mounted on /opt/ml, which a non-root user cannot make: made once, as the
    # detection asks (on a fresh machine no root job may have made it yet).
    OPT_ML.mkdir(parents=True, exist_ok=True)
    base = prepare_host_tree(nobody_dir / "job", small_job("ddp", None), ranks=1, data=tmp_path)
    net = 'while IFS=: read -r name counters; do [ -n "$counters" ] && echo net $name; done < /proc/net/dev'
    show = f"hostname; id -u; ls /opt/ml; for f in /tmp/*; do echo tmp ${{f#/tmp/}}; done; {net}; echo done"
    argv, env = chain_command(
        "ddp",
        base,
        toolkit_bin=image_toolkit_bin("ddp"),
        isolation=isolation,
        entrypoint=["/bin/sh", "-c", show],
    )
    subprocess.run(["chown", "-R", "65534:65534", str(nobody_dir)], check=True)
    setpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    done = subprocess.run([*setpriv, *argv], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[:2] == ["algo-1", "0"], done.stdout
    assert {"input", "model", "output"} <= set(lines), done.stdout  # /opt/ml is the host's tree
    # Its own /tmp (the kept job folder in it, not the machine's others) and network (loopback,
    # the veth pair's ends).
    assert f"tmp {nobody_dir.name}" in lines and f"tmp {tmp_path.relative_to('/tmp').parts[0]}" not in lines
    assert lines[-5:] == ["net lo", "net eth0-peer", "net eth0", "done", ""], done.stdout


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
